"""`umbrella worker`: consumes jobs and runs the sub-hourly cron jobs until SIGTERM.

On SIGTERM the worker stops taking jobs and scheduled runs, and waits at most
`UMBRELLA_WORKER_SHUTDOWN_GRACE_SECONDS` for the running ones (below the pod's termination
grace, so Kubernetes never has to kill it). Past that bound it cancels them and exits 0:
a cancelled job is left `picked` and another worker takes it up once its heartbeat lapses,
as it does a job of a worker that died; a cancelled cron run is recorded as failed and its
next due time runs it again.

When Postgres goes away the worker does not exit: it logs the outage once, waits for
Postgres to answer again and resumes consuming. `/livez` stays 200 meanwhile (the process
is healthy; restarting it would not bring Postgres back, and a restart loop would only
add CrashLoopBackOff delays to the recovery). A job that was running when Postgres went
away is taken up again once its heartbeat lapses, like one of a worker that died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any

import asyncpg
from aiohttp import web
from pgqueuer.ports.tracing import TracingProtocol
from pgqueuer.qm import QueueManager
from redis.asyncio import Redis

from umbrella import jobs
from umbrella.config import Settings
from umbrella.core import cache, cron, db, schedules, storage
from umbrella.core.background import cancel_and_wait
from umbrella.core.storage import Storage
from umbrella.integrations.email import email_sender
from umbrella.integrations.sms import sms_sender
from umbrella.observability import sampler
from umbrella.observability.metrics import Metrics
from umbrella.violet import service as violet_service

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
# While Postgres is away: try again after 0.5 s, 1 s, 2 s … at most this far apart.
RECONNECT_MAX_SECONDS = 5.0


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


async def _connect(settings: Settings, *, application_name: str) -> asyncpg.Connection:
    connection: asyncpg.Connection = await asyncpg.connect(
        **db.connection_config(settings, application_name=application_name)
    )
    return connection


@asynccontextmanager
async def queue_manager(
    settings: Settings, context: jobs.JobContext, *, tracer: TracingProtocol | None = None
) -> AsyncIterator[QueueManager]:
    """A consumer of every registered job on a connection of its own (pgqueuer LISTENs on it)."""
    connection = await _connect(settings, application_name="umbrella-worker-queue")
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


Session = Callable[[asyncpg.Connection], Awaitable[None]]


async def run_until_stopped(
    settings: Settings,
    stopping: asyncio.Event,
    session: Session,
    *,
    application_name: str,
    waiting_message: str,
    resumed_message: str,
) -> None:
    """Run `session` on a connection of its own until `stopping` is set; through a Postgres
    outage, log it once (`waiting_message`), wait and resume."""
    down_since: float | None = None
    delay = 0.5
    while not stopping.is_set():
        try:
            connection = await _connect(settings, application_name=application_name)
            try:
                if down_since is not None:
                    log.info(
                        resumed_message,
                        extra={"outage_seconds": round(time.monotonic() - down_since, 1)},
                    )
                    down_since, delay = None, 0.5
                await session(connection)
            finally:
                await connection.close()
            return
        except Exception as error:
            if not db.postgres_down(error):
                raise
            if down_since is None:
                down_since = time.monotonic()
                log.warning(waiting_message, extra={"error": type(error).__name__})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), delay)
        delay = min(delay * 2, RECONNECT_MAX_SECONDS)


async def run_draining(
    work: Coroutine[Any, Any, None],
    *,
    shutdown: asyncio.Event,
    stopping: asyncio.Event,
    grace_seconds: float,
    overrun: Callable[[], None],
) -> None:
    """Run `work`; once `stopping` is set, set its `shutdown` and give it `grace_seconds` to
    finish, then call `overrun` and cancel it. Its own failure (an outage) is re-raised."""
    task = asyncio.create_task(work)
    stop_requested = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait({task, stop_requested}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done():
            shutdown.set()
            await asyncio.wait({task}, timeout=grace_seconds)
            if not task.done():
                overrun()
                task.cancel()
                # What a cancelled run leaves behind (a closed connection's errors) is moot.
                await asyncio.wait({task})
                if not task.cancelled():
                    task.exception()
                return
        task.result()
    finally:
        stop_requested.cancel()
        if not task.done():  # we are cancelled ourselves (the other half of the worker failed)
            task.cancel()
            await asyncio.wait({task})


QUEUE_LIBRARY_LOG = logging.getLogger("pgqueuer")


def _drop(record: logging.LogRecord) -> bool:
    return False


async def consume_until_stopped(
    settings: Settings,
    context: jobs.JobContext,
    stopping: asyncio.Event,
    *,
    tracer: TracingProtocol | None = None,
) -> None:
    """Consume jobs until `stopping` is set; through a Postgres outage, wait and resume."""

    async def session(connection: asyncpg.Connection) -> None:
        manager = jobs.build_queue_manager(connection, context, jobs.all_jobs(), tracer=tracer)

        def abandon_running_jobs() -> None:
            log.warning(
                "worker drain bound passed; cancelling the running jobs (another worker takes"
                " them up once their heartbeat lapses)",
                extra={
                    "grace_seconds": settings.worker_shutdown_grace_seconds,
                    "cancelled": [f"{name}#{job_id}" for job_id, name in context.running.items()],
                },
            )
            # Without its connection pgqueuer cannot mark the jobs cancelled (that deletes
            # them): they stay `picked`, as a dead worker's would, and are taken up again.
            # Its complaints about the severed connection (a traceback, then a warning per
            # retried write) would only bury the line above.
            QUEUE_LIBRARY_LOG.addFilter(_drop)
            connection.terminate()

        try:
            await run_draining(
                consume(settings, manager),
                shutdown=manager.shutdown,
                stopping=stopping,
                grace_seconds=settings.worker_shutdown_grace_seconds,
                overrun=abandon_running_jobs,
            )
        finally:
            QUEUE_LIBRARY_LOG.removeFilter(_drop)

    await run_until_stopped(
        settings,
        stopping,
        session,
        application_name="umbrella-worker-queue",
        waiting_message="postgres unavailable; worker waiting for postgres",
        resumed_message="postgres is back; worker resumes",
    )


async def schedule_until_stopped(
    settings: Settings,
    stopping: asyncio.Event,
    *,
    redis: Redis | None,
    cron_jobs: Sequence[cron.CronJob] | None = None,
) -> None:
    """Run the `in_worker` cron jobs (or `cron_jobs`) when due until `stopping` is set;
    resume after a Postgres outage."""
    if cron_jobs is None:
        cron_jobs = cron.worker_cron_jobs()
    running: set[str] = set()

    async def session(connection: asyncpg.Connection) -> None:
        await schedules.forget_other_schedules(connection, cron_jobs)
        scheduler = schedules.build_scheduler(
            connection, settings, redis=redis, cron_jobs=cron_jobs, running=running
        )

        def cancel_running_runs() -> None:
            log.warning(
                "worker drain bound passed; cancelling the running cron jobs (recorded as"
                " failed; their next due time runs them)",
                extra={
                    "grace_seconds": settings.worker_shutdown_grace_seconds,
                    "cancelled": sorted(running),
                },
            )

        await run_draining(
            scheduler.run(),
            shutdown=scheduler.shutdown,
            stopping=stopping,
            grace_seconds=settings.worker_shutdown_grace_seconds,
            overrun=cancel_running_runs,
        )

    log.info("scheduler started", extra={"cron_jobs": [job.name for job in cron_jobs]})
    await run_until_stopped(
        settings,
        stopping,
        session,
        application_name="umbrella-worker-scheduler",
        # Not "waiting for postgres": operators count that line, one per outage and worker.
        waiting_message="postgres unavailable; scheduled cron runs paused until it is back",
        resumed_message="postgres is back; the scheduler resumes",
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
        stopping = asyncio.Event()

        runner = web.AppRunner(_probe_app(metrics, alive), access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        port = settings.worker_metrics_port if probe_port is None else probe_port
        await web.TCPSite(runner, settings.host, port, reuse_address=True).start()

        loop = asyncio.get_running_loop()

        def request_stop() -> None:
            log.info(
                "worker stopping: finishing running jobs",
                extra={"grace_seconds": settings.worker_shutdown_grace_seconds},
            )
            alive.clear()
            stopping.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, request_stop)
        stack.callback(_stop_listening_for_signals, loop)

        registered = jobs.all_jobs()
        # The limit the API enforces (D-062), wired here: observability imports no domain.
        violet_limit = violet_service.DAILY_LIMIT
        gauges = asyncio.create_task(
            sampler.run_sampler(metrics, registered, violet_daily_limit=violet_limit)
        )
        stack.push_async_callback(cancel_and_wait, gauges)

        alive.set()
        log.info("worker started", extra={"jobs": sorted(registered), "port": port})
        async with asyncio.TaskGroup() as halves:
            halves.create_task(consume_until_stopped(settings, context, stopping))
            if settings.worker_scheduler_enabled:
                halves.create_task(schedule_until_stopped(settings, stopping, redis=redis))
    log.info("worker stopped")
