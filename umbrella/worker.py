"""`umbrella worker`: consumes jobs until SIGTERM, then lets the running ones finish."""

from __future__ import annotations

import asyncio
import logging
import signal
from contextlib import AsyncExitStack

import asyncpg
from aiohttp import web

from umbrella.config import Settings
from umbrella.core import cache, db, jobs, storage
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


async def run_worker(settings: Settings, *, probe_port: int | None = None) -> None:
    metrics = Metrics()
    alive = asyncio.Event()
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(db.database(settings, application_name="umbrella-worker"))
        redis = await stack.enter_async_context(cache.redis(settings))
        store = await stack.enter_async_context(storage.storage(settings))
        # pgqueuer LISTENs for new jobs, so it needs a connection of its own.
        connection = await asyncpg.connect(
            **db.connection_config(settings, application_name="umbrella-worker-queue")
        )
        stack.push_async_callback(connection.close)

        registered = jobs.all_jobs()
        context = jobs.JobContext(settings=settings, redis=redis, storage=store, metrics=metrics)
        manager = jobs.build_queue_manager(connection, context, registered)

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
        stack.callback(
            lambda: [loop.remove_signal_handler(s) for s in (signal.SIGTERM, signal.SIGINT)]
        )

        batch_size = max(1, settings.worker_concurrency // 2)
        alive.set()
        log.info("worker started", extra={"jobs": sorted(registered), "port": port})
        await manager.run(
            batch_size=batch_size,
            max_concurrent_tasks=max(settings.worker_concurrency, 2 * batch_size),
        )
    log.info("worker stopped")
