"""The gauges the worker samples from Postgres: queue, outbox, storage, Violet, cron."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from piccolo.engine.postgres import PostgresEngine

from tests.factories import make_artist
from tests.metrics import sample
from umbrella import jobs
from umbrella.config import Settings
from umbrella.observability.metrics import Metrics
from umbrella.observability.sampler import sample_once
from umbrella.violet.service import DAILY_LIMIT

Client = TestClient[web.Request, web.Application]


async def insert(db: PostgresEngine, table: str, **values: Any) -> None:
    columns = ", ".join(values)
    placeholders = ", ".join(f"${n}" for n in range(1, len(values) + 1))
    pool = db.pool
    assert pool is not None
    await pool.execute(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", *values.values())


async def add_broadcast(db: PostgresEngine, artist_id: uuid.UUID) -> uuid.UUID:
    broadcast_id = uuid.uuid4()
    await insert(
        db,
        "broadcast_messages",
        id=broadcast_id,
        artist_id=artist_id,
        subject="New EP",
        body="Out now",
        channels="both",
        status="sending",
    )
    return broadcast_id


async def add_delivery(
    db: PostgresEngine,
    broadcast_id: uuid.UUID,
    channel: str,
    status: str,
    not_before: datetime | None = None,
) -> None:
    await insert(
        db,
        "broadcast_deliveries",
        id=uuid.uuid4(),
        broadcast_id=broadcast_id,
        channel=channel,
        address=f"{uuid.uuid4().hex[:8]}@example.com"
        if channel == "email"
        else f"+336{uuid.uuid4().int % 10**8:08d}",
        status=status,
        not_before=not_before,
        sent_at=datetime.now(UTC) if status == "sent" else None,
    )


async def add_notification(db: PostgresEngine, channel: str, status: str) -> None:
    await insert(
        db,
        "notifications",
        kind="other",
        channel=channel,
        recipient="someone@example.com" if channel == "email" else "+33612345678",
        status=status,
        sent_at=datetime.now(UTC) if status == "sent" else None,
    )


async def test_the_sampled_gauges_read_what_waits_in_postgres(db: PostgresEngine) -> None:
    metrics = Metrics()
    names = list(jobs.all_jobs())
    await sample_once(
        metrics, names, violet_daily_limit=DAILY_LIMIT
    )  # an empty system reads zero everywhere, not nothing
    assert sample(metrics, "umbrella_outbox_backlog", channel="email") == 0
    assert sample(metrics, "umbrella_queue_oldest_job_age_seconds", task="purge_session_cache") == 0
    assert metrics.registry.get_sample_value("umbrella_storage_used_bytes") == 0

    _, artist_id = await make_artist()
    _, other_artist_id = await make_artist(stage_name="Other")
    broadcast_id = await add_broadcast(db, artist_id)
    later = datetime.now(UTC) + timedelta(hours=5)
    for channel, status, not_before in [
        ("email", "pending", None),
        ("email", "sending", None),
        ("email", "sent", None),  # done: not waiting
        ("sms", "pending", None),
        ("sms", "pending", later),  # deferred by quiet hours: not due
        ("sms", "skipped", None),
    ]:
        await add_delivery(db, broadcast_id, channel, status, not_before)
    for channel, status in [("email", "queued"), ("email", "sent"), ("sms", "failed")]:
        await add_notification(db, channel, status)

    await insert(db, "storage_quotas", artist_id=artist_id, used_bytes=1_000)
    await insert(db, "storage_quotas", artist_id=other_artist_id, used_bytes=2_500)
    today = datetime.now(UTC).date()
    for _ in range(DAILY_LIMIT):
        await insert(db, "violet_usage", artist_id=artist_id, feature="songwriting", prompt="x")
    for day in (today, date(2025, 1, 1)):  # yesterday's prompts do not count today
        await insert(
            db,
            "violet_usage",
            artist_id=other_artist_id,
            usage_date=day,
            feature="general",
            prompt="y",
        )

    async with db.transaction():
        await jobs.enqueue("purge_session_cache", {"token_hashes": ["a" * 64]})
        await jobs.enqueue(
            "purge_session_cache", {"token_hashes": ["b" * 64]}, delay=timedelta(hours=1)
        )
    pool = db.pool
    assert pool is not None
    # The due job has waited ten minutes; the delayed one is not due yet.
    await pool.execute(
        "UPDATE pgqueuer SET execute_after = now() - interval '10 minutes'"
        " WHERE id = (SELECT min(id) FROM pgqueuer)"
    )

    await sample_once(metrics, names, violet_daily_limit=DAILY_LIMIT)
    assert sample(metrics, "umbrella_outbox_backlog", channel="email") == 3
    assert sample(metrics, "umbrella_outbox_backlog", channel="sms") == 1
    assert sample(metrics, "umbrella_queue_depth", task="purge_session_cache") == 2
    oldest = sample(metrics, "umbrella_queue_oldest_job_age_seconds", task="purge_session_cache")
    assert 600 <= oldest < 700
    assert sample(metrics, "umbrella_queue_depth", task="send_notification") == 0
    assert metrics.registry.get_sample_value("umbrella_storage_used_bytes") == 3_500
    assert metrics.registry.get_sample_value("umbrella_violet_prompts_today") == DAILY_LIMIT + 1
    assert metrics.registry.get_sample_value("umbrella_violet_prompts_today_max") == DAILY_LIMIT
    assert metrics.registry.get_sample_value("umbrella_violet_artists_at_daily_limit") == 1

    # What was sent leaves the backlog at the next round.
    await pool.execute("UPDATE broadcast_deliveries SET status = 'sent', sent_at = now()")
    await pool.execute("DELETE FROM pgqueuer")
    await sample_once(metrics, names, violet_daily_limit=DAILY_LIMIT)
    assert sample(metrics, "umbrella_outbox_backlog", channel="email") == 1  # the notification
    assert sample(metrics, "umbrella_outbox_backlog", channel="sms") == 0
    assert sample(metrics, "umbrella_queue_depth", task="purge_session_cache") == 0
    assert sample(metrics, "umbrella_queue_oldest_job_age_seconds", task="purge_session_cache") == 0


async def test_the_db_pool_gauges_are_read_at_scrape_time(
    client: Client, settings: Settings
) -> None:
    text = await (await client.get("/metrics")).text()
    assert f"umbrella_db_pool_connections_max {float(settings.db_pool_max_size)}" in text
    [in_use] = [
        line for line in text.splitlines() if line.startswith("umbrella_db_pool_connections_in_use")
    ]
    assert 0 <= float(in_use.split()[-1]) <= settings.db_pool_max_size
