"""OpenTelemetry traces, exported over OTLP/HTTP when the standard `OTEL_*` variables ask for it.

Set `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) to turn tracing
on; `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` turn it off again. With tracing
off nothing is traced and the request path carries no tracing middleware at all.

Everything else is the SDK's own reading of the standard variables, not ours:
- sampling: `TracerProvider` is built without a sampler, so the SDK reads
  `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` itself (default `parentbased_always_on`;
  e.g. `parentbased_traceidratio` with `0.1` keeps one trace in ten);
- resource: `Resource.create` reads `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`; only
  when neither names the service is it called `umbrella-<process>`;
- exporter: `OTLPSpanExporter` reads the endpoint, `OTEL_EXPORTER_OTLP_HEADERS`, timeouts...

Instrumented: aiohttp server (middleware in `umbrella.app`), aiohttp client, asyncpg, redis,
and the job queue (pgqueuer carries the context in each job's headers, `umbrella.jobs`).
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING

from opentelemetry import trace

if TYPE_CHECKING:
    from aiohttp.typedefs import Middleware
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_SERVICE_NAME = "service.name"


def tracing_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """True when an OTLP endpoint is configured and neither the SDK nor the exporter is off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(environ.get(name, "").strip() for name in _ENDPOINT_VARIABLES)


def tracer_provider(*, process: str) -> TracerProvider:
    """A provider whose resource and sampler come from the `OTEL_*` variables (no exporter)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    resource = Resource.create()
    # The SDK's placeholder is "unknown_service:<executable>": name the process instead, so
    # api and worker spans are told apart without any configuration.
    if str(resource.attributes.get(_SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({_SERVICE_NAME: f"umbrella-{process}"}))
    # No `sampler=`: the SDK then honours OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG.
    return TracerProvider(resource=resource)


def configure_tracing(*, process: str) -> bool:
    """Install the global tracer provider with an OTLP exporter; False when tracing is off."""
    if not tracing_requested():
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = tracer_provider(process=process)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    # The instrumentors use the global provider just installed; the client one redacts
    # credentials and signed-URL query values from the URLs it records.
    AioHttpClientInstrumentor().instrument()
    AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]
    RedisInstrumentor().instrument()
    log.info(
        "tracing on",
        extra={
            "service_name": provider.resource.attributes.get(_SERVICE_NAME),
            "sampler": provider.sampler.get_description(),
        },
    )
    return True


def server_middleware(provider: trace.TracerProvider | None = None) -> Middleware:
    """The aiohttp server-span middleware, tracing with `provider` (None: the global one)."""
    from opentelemetry.instrumentation.aiohttp_server import (
        AioHttpServerInstrumentor,
        create_aiohttp_middleware,
    )

    # The middleware reads module state (excluded URLs, semconv mode, request meters) that
    # only `instrument()` sets up, and fails every request without it. Its other effect,
    # patching `web.Application` to put tracing first, is undone at once: our middleware
    # must run after `hide_query_secrets_middleware`, so spans never record a token.
    instrumentor = AioHttpServerInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        with warnings.catch_warnings():
            # The patched `web.Application` subclass it defines warns; it is discarded anyway.
            warnings.simplefilter("ignore", DeprecationWarning)
            instrumentor.instrument()
        instrumentor.uninstrument()
    middleware: Middleware = create_aiohttp_middleware(tracer_provider=provider)
    return middleware


def current_span_ids() -> tuple[str, str] | None:
    """(32-hex trace id, 16-hex span id) of the active span, for log lines; None without one.

    An unsampled span has ids too: they still tie the api and worker lines of one request
    together, even though the trace itself was not exported.
    """
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
