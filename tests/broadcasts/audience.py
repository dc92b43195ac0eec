"""Contacts written straight into the tables (one SQL statement for thousands), and a worker
that a test can kill mid-send."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

from umbrella.broadcasts.tables import BroadcastDelivery
from umbrella.config import Settings
from umbrella.core import cache
from umbrella.observability.metrics import Metrics
from umbrella.worker import consume, job_context, queue_manager


async def make_list(artist_id: UUID, name: str = "Fans") -> UUID:
    list_id = uuid4()
    await BroadcastDelivery.raw(
        "INSERT INTO contact_lists (id, artist_id, name) VALUES ({}, {}, {})",
        list_id,
        artist_id,
        name,
    )
    return list_id


def phone(n: int) -> str:
    """A valid US number per n < 8,000,000 (San Francisco's 415 area, 2xx exchanges)."""
    return f"+1415{2_000_000 + n:07d}"


def email(n: int) -> str:
    return f"fan{n}@example.com"


async def add_contacts(
    list_id: UUID,
    numbers: range,
    *,
    email_every: int = 1,
    sms_every: int = 1,
    timezone: str | None = None,
) -> None:
    """Contacts `n` in `numbers`: email opt-in when n % email_every == 0, SMS likewise."""
    await BroadcastDelivery.raw(
        "INSERT INTO contact_list_members (list_id, email, phone, name, email_opt_in,"
        " sms_opt_in, timezone)"
        " SELECT {}, 'fan' || n || '@example.com', '+1415' || lpad((2000000 + n)::text, 7, '0'),"
        " 'Fan ' || n, n % {} = 0, n % {} = 0, {}"
        " FROM generate_series({}::int, {}::int) AS n",
        list_id,
        email_every,
        sms_every,
        timezone,
        numbers.start,
        numbers.stop - 1,
    )


async def suppress(artist_id: UUID, channel: str, address: str, reason: str = "stop") -> None:
    await BroadcastDelivery.raw(
        "INSERT INTO fan_suppressions (artist_id, channel, address, reason)"
        " VALUES ({}, {}, {}, {})",
        artist_id,
        channel,
        address,
        reason,
    )


async def delivery_counts(broadcast_id: UUID) -> dict[tuple[str, str], int]:
    rows = await BroadcastDelivery.raw(
        "SELECT channel, status, count(*) AS n FROM broadcast_deliveries"
        " WHERE broadcast_id = {} GROUP BY 1, 2",
        broadcast_id,
    )
    return {(row["channel"], row["status"]): int(row["n"]) for row in rows}


@dataclass
class Worker:
    task: asyncio.Task[None]

    async def kill(self) -> None:
        """Stop at once, mid-call: every running job task too (no graceful drain)."""
        for task in asyncio.all_tasks():
            if task.get_coro().__qualname__.endswith("QueueManager._dispatch"):  # type: ignore[union-attr]
                task.cancel()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task


@asynccontextmanager
async def killable_worker(settings: Settings) -> AsyncIterator[Worker]:
    """`umbrella worker` in this event loop, which the test may kill."""
    async with (
        cache.redis(settings) as redis,
        job_context(settings, Metrics(), redis=redis, store=None) as context,
        queue_manager(settings, context) as manager,
    ):
        worker = Worker(task=asyncio.create_task(consume(settings, manager)))
        try:
            yield worker
        finally:
            if not worker.task.done():
                manager.shutdown.set()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(worker.task, 30)


def zone_at(hour: int) -> str:
    """A fixed-offset IANA zone where it is about `hour` o'clock now (quiet hours are local)."""
    offset = (hour - datetime.now(UTC).hour + 12) % 24 - 12  # -12..11
    # POSIX-style names invert the sign: Etc/GMT-3 is three hours ahead of UTC.
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"
