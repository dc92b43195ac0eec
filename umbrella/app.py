"""`create_app(settings)`: the aiohttp application of `umbrella api`, and its server loop."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from umbrella import keys
from umbrella.accounts import views as accounts_views
from umbrella.accounts.service import SessionStore
from umbrella.alerts import views as alerts_views
from umbrella.analytics import views as analytics_views
from umbrella.artists import service as artists_service
from umbrella.artists import views as artists_views
from umbrella.broadcasts import views as broadcasts_views
from umbrella.calendar import views as calendar_views
from umbrella.config import Settings
from umbrella.core import cache, db, storage
from umbrella.fans import views as fans_views
from umbrella.files import views as files_views
from umbrella.follows import views as follows_views
from umbrella.gigs import views as gigs_views
from umbrella.integrations.llm import llm_client
from umbrella.integrations.oidc import oidc_client
from umbrella.messaging import views as messaging_views
from umbrella.observability import tracing
from umbrella.observability.metrics import Metrics
from umbrella.portfolio import service as portfolio_service
from umbrella.portfolio import views as portfolio_views
from umbrella.privacy import views as privacy_views
from umbrella.privacy.export_gate import ExportGate
from umbrella.reviews import views as reviews_views
from umbrella.search import views as search_views
from umbrella.studio import views as studio_views
from umbrella.violet import views as violet_views
from umbrella.web import auth, health, middlewares, openapi, ratelimit
from umbrella.web import sessions as web_sessions
from umbrella.web.views import public

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

log = logging.getLogger(__name__)


async def postgres_context(app: web.Application) -> AsyncIterator[None]:
    async with db.database(
        app[keys.SETTINGS], application_name="umbrella-api", pooled=True
    ) as engine:
        app[keys.DB] = engine
        yield


async def redis_context(app: web.Application) -> AsyncIterator[None]:
    # Redis down at start is no reason not to serve: every use of it has a fallback.
    settings = app[keys.SETTINGS]
    async with cache.redis(settings) as client:
        app[keys.REDIS] = client
        sessions = SessionStore(
            redis=client, metrics=app[keys.METRICS], ttl_seconds=settings.session_ttl_seconds
        )
        app[web_sessions.SESSIONS] = app[accounts_views.SESSION_STORE] = sessions
        app[privacy_views.EXPORT_GATE] = ExportGate(redis=client)
        async with sessions.watching_epoch(every_seconds=settings.session_revocation_check_seconds):
            yield


async def storage_context(app: web.Application) -> AsyncIterator[None]:
    # Nor S3: only calls that move files answer 503 until the store (and bucket) answer.
    async with storage.storage(app[keys.SETTINGS]) as store:
        app[keys.STORAGE] = store
        yield


async def providers_context(app: web.Application) -> AsyncIterator[None]:
    # Neither client connects at start: a provider outage must not keep the api from serving.
    settings, metrics = app[keys.SETTINGS], app[keys.METRICS]
    async with llm_client(settings, metrics) as llm, oidc_client(settings, metrics) as oidc:
        app[keys.LLM] = llm
        app[keys.OIDC] = oidc
        yield


async def job_queue_context(app: web.Application) -> AsyncIterator[None]:
    # Jobs are enqueued on the request's own transaction; this only proves the queue exists.
    rows = await app[keys.DB].run_ddl("SELECT to_regclass('pgqueuer') IS NOT NULL AS installed")
    if not rows[0]["installed"]:
        raise RuntimeError("the job queue tables are missing: run `umbrella migrate` first")
    yield


def create_app(
    settings: Settings, *, tracer_provider: TracerProvider | None = None
) -> web.Application:
    """The API: middlewares of ARCHITECTURE §4, one cleanup context per resource, all routes.

    Requests are traced with `tracer_provider` when given (tests: the global provider can be
    set only once per process), else with the global one when `OTEL_*` turns tracing on.
    """
    tracing_middlewares = []
    if tracer_provider is not None or tracing.tracing_requested():
        # None means the global provider, which `configure_tracing` installed.
        tracing_middlewares.append(tracing.server_middleware(tracer_provider))
    app = web.Application(
        middlewares=[
            middlewares.request_id_middleware,
            middlewares.hide_query_secrets_middleware,
            *tracing_middlewares,
            middlewares.cors_middleware,
            middlewares.metrics_middleware,
            middlewares.error_middleware,
            middlewares.body_limit_middleware,
            ratelimit.ip_write_limit_middleware,
            auth.auth_middleware,
            ratelimit.user_write_limit_middleware,
            middlewares.json_depth_middleware,
        ],
        client_max_size=settings.max_body_bytes,
    )
    app[keys.SETTINGS] = settings
    # Filled by the first request for /v1/openapi.json (umbrella/web/openapi.py).
    app[keys.OPENAPI] = {}
    app[keys.METRICS] = Metrics()
    app[health.READINESS] = health.Readiness()
    app[health.HEALTH] = health.DependencyChecks(app)
    app[ratelimit.SIGN_IN_LIMITER] = ratelimit.sign_in_limiter(settings)
    app[ratelimit.ABUSE_LIMITS] = ratelimit.abuse_limits(settings)
    # What a lower domain asks a higher one, wired here so it imports nothing above it.
    app[keys.HAS_ARTIST_PROFILE] = artists_service.has_profile
    app[keys.COUNT_TRACKS] = portfolio_service.count_tracks
    app[keys.ARTIST_ID_OF] = artists_service.get_artist_id
    app.cleanup_ctx.extend(
        [
            postgres_context,
            redis_context,
            storage_context,
            providers_context,
            job_queue_context,
            health.checks_context,
        ]
    )

    app.add_routes(health.routes())
    app.router.add_get("/v1/openapi.json", public(openapi.openapi))
    for domain_views in (
        accounts_views,
        artists_views,
        portfolio_views,
        reviews_views,
        follows_views,
        gigs_views,
        alerts_views,
        messaging_views,
        privacy_views,
        calendar_views,
        search_views,
        files_views,
        fans_views,
        broadcasts_views,
        analytics_views,
        studio_views,
        violet_views,
    ):
        app.add_routes(domain_views.routes(settings))
    return app


async def serve(settings: Settings, *, ready: asyncio.Event | None = None) -> None:
    """Serve until SIGTERM/SIGINT, then drain: stop accepting, finish in-flight requests, exit."""
    app = create_app(settings)
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, shutdown_timeout=settings.shutdown_grace_seconds
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, reuse_address=True)
    await site.start()
    log.info("api listening", extra={"host": settings.host, "port": settings.port})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
        log.info("shutting down", extra={"grace_seconds": settings.shutdown_grace_seconds})
        # Readiness fails first so endpoints drop this pod before it stops listening.
        app[health.READINESS].draining = True
        if settings.shutdown_delay_seconds:
            await asyncio.sleep(settings.shutdown_delay_seconds)
    finally:
        # Handlers stay installed while draining: a second SIGTERM must not kill the drain.
        await runner.cleanup()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        # Nor a SIGTERM between here and the exit: the process is done, and would else end
        # with -15 instead of 0 (seen on a busy machine, where the exit takes a while).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    log.info("api stopped")
