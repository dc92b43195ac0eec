"""Traces: one trace from the API request through the job it enqueued to the worker's run."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider, sampling
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from pgqueuer.adapters.tracing.opentelemetry import OpenTelemetryTracing

from tests.conftest import start_client, start_umbrella, subprocess_env
from tests.factories import bearer_for, make_user
from tests.test_api_process import wait_ready
from tests.workers import eventually, in_process_worker
from umbrella.app import create_app
from umbrella.config import Settings
from umbrella.devstack import free_port
from umbrella.notifications.tables import Notification
from umbrella.observability.logging import JsonFormatter
from umbrella.observability.tracing import tracer_provider, tracing_requested

Client = TestClient[web.Request, web.Application]

OTEL_VARIABLES = (
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
)
# A caller's W3C context, as a browser agent or another service would send it.
CALLER_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_TRACEPARENT = f"00-{CALLER_TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def no_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the developer's shell exports, these tests start from no OTEL_* at all."""
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@dataclass
class Traced:
    client: Client
    exporter: InMemorySpanExporter
    provider: TracerProvider


@pytest.fixture
async def traced(settings: Settings, no_otel_env: None) -> AsyncIterator[Traced]:
    """The API, its requests traced into memory by a provider of this test's own."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampling.ALWAYS_ON, shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = await start_client(create_app(settings, tracer_provider=provider))
    yield Traced(client=client, exporter=exporter, provider=provider)
    await client.close()
    provider.shutdown()


@contextmanager
def json_logs() -> Iterator[list[dict[str, Any]]]:
    """Every `umbrella.*` log line emitted in the block, as the JSON formatter writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    logger = logging.getLogger("umbrella")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    lines: list[dict[str, Any]] = []
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines() if line[:1] == "{")


def ids_of(span: ReadableSpan) -> tuple[str, str]:
    assert span.context is not None
    return format(span.context.trace_id, "032x"), format(span.context.span_id, "016x")


def ancestors(span: ReadableSpan, spans: list[ReadableSpan]) -> list[ReadableSpan]:
    """The recorded chain of parents of `span`, nearest first."""
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    chain: list[ReadableSpan] = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span)
    return chain


async def welcome_sent(user_id: UUID) -> bool:
    rows = await Notification.select(Notification.status).where(Notification.user_id == user_id)
    return [row["status"] for row in rows] == ["sent"]


async def test_a_request_and_the_job_it_enqueued_are_one_trace(
    traced: Traced, settings: Settings
) -> None:
    user_id = await make_user()
    headers = await bearer_for(traced.client.app, user_id)
    with json_logs() as api_lines:
        # Choosing the venue role enqueues the welcome email in the request's transaction.
        response = await traced.client.post(
            "/v1/onboarding/role", json={"role": "venue", "venue_name": "Mohawk"}, headers=headers
        )
        assert response.status == 200, await response.text()
    [server] = [s for s in traced.exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert server.name == "POST /v1/onboarding/role"
    assert server.attributes is not None
    assert server.attributes["http.status_code"] == 200

    worker_tracer = OpenTelemetryTracing(tracer=traced.provider.get_tracer("umbrella.jobs"))
    with json_logs() as worker_lines:
        async with in_process_worker(settings, tracer=worker_tracer):
            await eventually(lambda: welcome_sent(user_id), what="the welcome email was sent")

    spans = traced.exporter.get_finished_spans()
    [job] = [s for s in spans if s.name == "process send_notification"]
    assert job.kind is SpanKind.CONSUMER
    assert job.context is not None
    assert server.context is not None
    assert job.context.trace_id == server.context.trace_id
    assert server in ancestors(job, list(spans))

    # From a log line to its trace: the access line carries the server span's ids, the
    # worker's lines the job span's (same trace id, so one search finds both processes).
    [access] = [line for line in api_lines if line["logger"] == "umbrella.access"]
    assert (access["trace_id"], access["span_id"]) == ids_of(server)
    [sent] = [line for line in worker_lines if line["msg"] == "notification sent"]
    assert (sent["trace_id"], sent["span_id"]) == ids_of(job)


async def test_a_caller_trace_is_continued(traced: Traced) -> None:
    response = await traced.client.get(
        "/v1/openapi.json", headers={"traceparent": CALLER_TRACEPARENT}
    )
    assert response.status == 200
    [server] = [s for s in traced.exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert ids_of(server)[0] == CALLER_TRACE_ID
    assert server.parent is not None
    assert server.parent.is_remote


async def test_without_tracing_a_request_is_not_traced(
    settings: Settings, no_otel_env: None
) -> None:
    client = await start_client(create_app(settings))
    try:
        with json_logs() as lines:
            response = await client.get(
                "/v1/openapi.json", headers={"traceparent": CALLER_TRACEPARENT}
            )
            assert response.status == 200
    finally:
        await client.close()
    # A tracing middleware would have continued the caller's context even with no SDK.
    [access] = [line for line in lines if line["logger"] == "umbrella.access"]
    assert "trace_id" not in access
    assert "span_id" not in access


@pytest.mark.parametrize(
    ("environ", "requested"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "umbrella-api"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "TRUE"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "false"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "otlp"}, True),
    ],
)
def test_tracing_is_on_only_with_an_endpoint_and_not_disabled(
    environ: Mapping[str, str], requested: bool
) -> None:
    assert tracing_requested(environ) is requested


def test_the_sampler_comes_from_the_standard_variables(
    monkeypatch: pytest.MonkeyPatch, no_otel_env: None
) -> None:
    def sampler() -> str:
        return tracer_provider(process="api").sampler.get_description()

    assert sampler() == sampling.ParentBased(sampling.ALWAYS_ON).get_description()
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.1")
    assert sampler() == sampling.ParentBased(sampling.TraceIdRatioBased(0.1)).get_description()
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    assert sampler() == sampling.ALWAYS_OFF.get_description()


def test_the_service_is_named_by_the_standard_variables_else_by_process(
    monkeypatch: pytest.MonkeyPatch, no_otel_env: None
) -> None:
    def attributes(process: str) -> Mapping[str, object]:
        return tracer_provider(process=process).resource.attributes

    assert attributes("worker")["service.name"] == "umbrella-worker"
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES", "service.name=umbrella-eu,deployment.environment=prod"
    )
    assert attributes("api")["service.name"] == "umbrella-eu"
    assert attributes("api")["deployment.environment"] == "prod"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "umbrella-api-canary")
    assert attributes("api")["service.name"] == "umbrella-api-canary"


@dataclass
class ExportedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str


@pytest.fixture
async def collector() -> AsyncIterator[tuple[str, list[ExportedSpan]]]:
    """A local OTLP/HTTP trace receiver (protobuf, as the exporter sends it): (url, spans)."""
    received: list[ExportedSpan] = []

    async def traces(request: web.Request) -> web.Response:
        export = trace_service_pb2.ExportTraceServiceRequest()
        export.ParseFromString(await request.read())
        for resource_spans in export.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                received.extend(
                    ExportedSpan(
                        service=attributes["service.name"],
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                    )
                    for span in scope_spans.spans
                )
        return web.Response(
            body=trace_service_pb2.ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", received
    await runner.cleanup()


async def test_the_api_process_exports_its_request_spans_over_otlp(
    settings: Settings, collector: tuple[str, list[ExportedSpan]]
) -> None:
    endpoint, received = collector
    port = free_port()
    env = subprocess_env(
        settings,
        UMBRELLA_PORT=str(port),
        UMBRELLA_HOST="127.0.0.1",
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_BSP_SCHEDULE_DELAY="50",  # export within the test, not after 5 s
    )
    for name in OTEL_VARIABLES:
        if name != "OTEL_EXPORTER_OTLP_ENDPOINT":
            env.pop(name, None)
    api = await start_umbrella("api", env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_ready(url, api)
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{url}/v1/openapi.json", headers={"traceparent": CALLER_TRACEPARENT}) as r,
        ):
            assert r.status == 200

        def request_span() -> list[ExportedSpan]:
            return [s for s in received if s.trace_id == CALLER_TRACE_ID]

        async def exported() -> bool:
            return bool(request_span())

        await eventually(exported, what="the request's span reached the collector")
    finally:
        api.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(api.communicate(), 20)
    assert api.returncode == 0, output.decode()[-2000:]
    [span] = request_span()
    assert (span.service, span.name) == ("umbrella-api", "GET /v1/openapi.json")
    lines = [json.loads(line) for line in output.decode().splitlines() if line[:1] == "{"]
    [access] = [
        line
        for line in lines
        if line["logger"] == "umbrella.access" and line.get("route") == "/v1/openapi.json"
    ]
    assert (access["trace_id"], access["span_id"]) == (span.trace_id, span.span_id)
