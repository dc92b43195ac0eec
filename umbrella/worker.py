"""`umbrella worker`: consumes jobs until SIGTERM, then lets the running ones finish."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

import asyncpg
from aiohttp import web
from pgqueuer.ports.tracing import TracingProtocol
from pgqueuer.qm import QueueManager
from redis.asyncio import Redis

from umbrella.config import Settings
from umbrella.core import cache, db, jobs, storage
from umbrella.core.storage import Storage
from umbrella.integrations.email import email_sender
from umbrella.integrations.sms import sms_sender
from umbrella.observability import sampler
from umbrella.observability.metrics import Metrics

log = logging.getLogger(__name__)


def _probe_app(metrics: Metrics, alive: asyncio.Event) -> web.Application:
    """`/livez` and `/metrics` on the worker's own port, for its probes and Prometheus."""

    async def livez(request: web.Request) -> web.Response:
        if not alive.is_set():
            return web.json_response({"status": "stopping"}, status=503)
        return web.json_response({"status": "ok"})

    async def metrics_view(request: web.Request) -> web.Response:
        return web.Response(
            body=metrics.render(), headers={"Content-Type": "text/plain; version=0.0.4"}
        )

    app = web.Application()
    app.router.add_get("/livez", livez)
    app.router.add_get("/metrics", metrics_view)
    return app


DEQUEUE_POLL = timedelta(seconds=1)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@asynccontextmanager
async def job_context(
    settings: Settings, metrics: Metrics, *, redis: Redis, store: Storage | None
) -> AsyncIterator[jobs.JobContext]:
    """What handlers use besides the database: Redis, S3, and the email and SMS senders."""
    async with (
        email_sender(settings, metrics) as email,
        sms_sender(settings, metrics, redis) as sms,
    ):
        yield jobs.JobContext(
            settings=settings, redis=redis, storage=store, metrics=metrics, email=email, sms=sms
        )


@asynccontextmanager
async def queue_manager(
    settings: Settings, context: jobs.JobContext, *, tracer: TracingProtocol | None = None
) -> AsyncIterator[QueueManager]:
    """A consumer of every registered job on a connection of its own (pgqueuer LISTENs on it)."""
    connection = await asyncpg.connect(
        **db.connection_config(settings, application_name="umbrella-worker-queue")
    )
    try:
        yield jobs.build_queue_manager(connection, context, jobs.all_jobs(), tracer=tracer)
    finally:
        await connection.close()


async def consume(settings: Settings, manager: QueueManager) -> None:
    """Run jobs until `manager.shutdown` is set, then let the running ones finish."""
    batch_size = max(1, settings.worker_concurrency // 2)
    heartbeat_timeout = timedelta(seconds=settings.job_heartbeat_timeout_seconds)
    await manager.run(
        batch_size=batch_size,
        max_concurrent_tasks=max(settings.worker_concurrency, 2 * batch_size),
        heartbeat_timeout=heartbeat_timeout,
        # pgqueuer is woken by new jobs, not by a retry coming due: a short poll keeps the
        # 1 s, 2 s, 4 s backoff honest (a few cheap queries a second while idle).
        dequeue_timeout=DEQUEUE_POLL,
    )


def _stop_listening_for_signals(loop: asyncio.AbstractEventLoop) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.remove_signal_handler(signum)
    # The jobs are finished and the process is on its way out: a late SIGTERM must not turn
    # its exit 0 into -15 (seen on a busy machine, where the exit takes a while).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


async def run_worker(settings: Settings, *, probe_port: int | None = None) -> None:
    metrics = Metrics()
    alive = asyncio.Event()
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(db.database(settings, application_name="umbrella-worker"))
        redis = await stack.enter_async_context(cache.redis(settings))
        store = await stack.enter_async_context(storage.storage(settings))
        context = await stack.enter_async_context(
            job_context(settings, metrics, redis=redis, store=store)
        )
        manager = await stack.enter_async_context(queue_manager(settings, context))

        runner = web.AppRunner(_probe_app(metrics, alive), access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        port = settings.worker_metrics_port if probe_port is None else probe_port
        await web.TCPSite(runner, settings.host, port, reuse_address=True).start()

        loop = asyncio.get_running_loop()

        def request_stop() -> None:
            log.info("worker stopping: finishing running jobs")
            alive.clear()
            manager.shutdown.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, request_stop)
        stack.callback(_stop_listening_for_signals, loop)

        registered = jobs.all_jobs()
        gauges = asyncio.create_task(sampler.run_sampler(metrics, registered))
        stack.push_async_callback(_cancel, gauges)

        alive.set()
        log.info("worker started", extra={"jobs": sorted(registered), "port": port})
        await consume(settings, manager)
    log.info("worker stopped")
