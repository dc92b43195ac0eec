"""Run the job consumer inside a test, with the same wiring as `umbrella worker`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from uuid import UUID

from pgqueuer.ports.tracing import TracingProtocol
from piccolo.engine.postgres import PostgresEngine

from umbrella.config import Settings
from umbrella.core import cache
from umbrella.core.storage import Storage
from umbrella.notifications.tables import Notification
from umbrella.observability.metrics import Metrics
from umbrella.worker import consume, job_context, queue_manager


@asynccontextmanager
async def in_process_worker(
    settings: Settings,
    *,
    tracer: TracingProtocol | None = None,
    store: Storage | None = None,
) -> AsyncIterator[Metrics]:
    """Consume jobs in this event loop until the block ends (uses the test's open pool).

    Jobs that touch S3 need `store` (e.g. the app's `keys.STORAGE`).
    """
    metrics = Metrics()
    async with (
        cache.redis(settings) as redis,
        job_context(settings, metrics, redis=redis, store=store) as context,
        queue_manager(settings, context, tracer=tracer) as manager,
    ):
        task = asyncio.create_task(consume(settings, manager))
        try:
            yield metrics
        finally:
            manager.shutdown.set()
            await asyncio.wait_for(task, 30)


async def eventually(
    check: Callable[[], Awaitable[bool]], *, seconds: float = 20.0, what: str = "condition"
) -> None:
    """Wait until `check()` is true (polling), or fail naming what never happened."""
    async with asyncio.timeout(seconds):
        while not await check():
            await asyncio.sleep(0.05)
    assert await check(), what


async def queue_rows(db: PostgresEngine) -> list[dict[str, object]]:
    """Every job row still in the queue (queued, picked or held as failed)."""
    rows: list[dict[str, object]] = await db.run_ddl(
        "SELECT id, entrypoint, status::text AS status, attempts, headers FROM pgqueuer ORDER BY id"
    )
    return rows


async def notification_status(notification_id: UUID) -> str:
    """Where a notification stands: queued, sent, failed…"""
    row = (
        await Notification.select(Notification.status)
        .where(Notification.id == notification_id)
        .first()
    )
    assert row is not None
    return str(row["status"])
