"""The job queue: enqueued with the business write, run by `umbrella worker`."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from uuid import UUID

import pytest
from piccolo.engine.postgres import PostgresEngine
from redis.asyncio import Redis

from tests.conftest import run_umbrella, start_umbrella, subprocess_env
from tests.factories import make_user
from tests.fakes.resend import FakeResend, use_fake_resend
from tests.workers import eventually, notification_status, queue_rows
from umbrella import jobs
from umbrella.accounts.service import cache_key
from umbrella.config import Settings
from umbrella.devstack import free_port
from umbrella.notifications.service import notify_user


async def queued(db: PostgresEngine) -> list[str]:
    rows = await db.run_ddl("SELECT entrypoint FROM pgqueuer ORDER BY id")
    return [row["entrypoint"] for row in rows]


async def test_a_rolled_back_transaction_enqueues_nothing(db: PostgresEngine) -> None:
    class Abort(Exception):
        pass

    async def enqueue_then_fail() -> None:
        async with db.transaction():
            await jobs.enqueue("purge_session_cache", {"token_hashes": ["0" * 64]})
            assert await queued(db) == ["purge_session_cache"]  # visible inside
            raise Abort

    with pytest.raises(Abort):
        await enqueue_then_fail()
    assert await queued(db) == []


async def test_a_committed_transaction_keeps_its_job(db: PostgresEngine) -> None:
    async with db.transaction():
        await jobs.enqueue("purge_session_cache", {"token_hashes": ["0" * 64]})
    assert await queued(db) == ["purge_session_cache"]


async def test_unknown_job_names_are_refused(db: PostgresEngine) -> None:
    with pytest.raises(ValueError, match="unknown job"):
        await jobs.enqueue("send_nothing", {})


async def test_every_job_is_named_verb_noun() -> None:
    for name, spec in jobs.all_jobs().items():
        assert name == spec.name
        assert "_" in name
        assert name == name.lower()


async def test_worker_runs_queued_jobs_and_stops_on_sigterm(
    settings: Settings, db: PostgresEngine, redis_client: Redis
) -> None:
    cleanup = await run_umbrella("cron", "sessions-cleanup", env=subprocess_env(settings))
    assert cleanup.code == 0, cleanup.stderr
    stale = cache_key("f" * 64)
    await redis_client.set(stale, "revoked-but-cached")
    async with db.transaction():
        await jobs.enqueue("purge_session_cache", {"token_hashes": ["f" * 64]})

    probe_port = free_port()
    worker = await start_umbrella(
        "worker", env=subprocess_env(settings, UMBRELLA_WORKER_METRICS_PORT=str(probe_port))
    )
    try:
        for _ in range(200):
            if not await redis_client.exists(stale) and await queued(db) == []:
                break
            await asyncio.sleep(0.1)
        assert not await redis_client.exists(stale)
        assert await queued(db) == []

        import aiohttp

        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{probe_port}/livez") as live:
                assert live.status == 200
            async with http.get(f"http://127.0.0.1:{probe_port}/metrics") as metrics:
                text = await metrics.text()
        assert 'umbrella_jobs_total{outcome="succeeded",task="purge_session_cache"} 1.0' in text
        assert 'umbrella_queue_depth{task="send_notification"} 0.0' in text
        assert 'umbrella_jobs_held_failed{task="purge_session_cache"} 0.0' in text
        [last_cleanup] = [
            line for line in text.splitlines() if line.startswith("umbrella_cron_last_success")
        ]
        assert 'cron_job="sessions-cleanup"' in last_cleanup
        assert abs(float(last_cleanup.split()[-1]) - time.time()) < 120
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(worker.communicate(), 30)
    assert worker.returncode == 0, output.decode()
    assert b"worker stopped" in output


async def test_a_worker_killed_mid_job_loses_nothing(
    settings: Settings, db: PostgresEngine, fake_resend: FakeResend
) -> None:
    """SIGKILL while a send is in flight: a second worker takes the job over and sends once."""
    providers = use_fake_resend(
        settings,
        fake_resend,
        email_timeout_seconds=60.0,  # the first try hangs until the worker dies
        job_heartbeat_timeout_seconds=2.0,
    )
    user_id = await make_user(email="luna@example.com")
    [notification_id] = await notify_user(user_id=user_id, kind="welcome", payload={"name": "Luna"})
    fake_resend.fail("timeout")
    env = subprocess_env(providers, UMBRELLA_WORKER_METRICS_PORT=str(free_port()))

    first = await start_umbrella("worker", env=env)
    try:
        await eventually(
            lambda: _received(fake_resend, 1), what="the first worker is mid-send", seconds=30
        )
    finally:
        first.kill()
        await first.wait()
    [job] = await queue_rows(db)
    assert job["status"] == "picked"  # abandoned mid-flight, not lost
    assert await notification_status(notification_id) == "queued"

    env["UMBRELLA_WORKER_METRICS_PORT"] = str(free_port())
    second = await start_umbrella("worker", env=env)
    try:
        await eventually(
            lambda: _sent_and_dequeued(db, notification_id), what="taken over", seconds=30
        )
    finally:
        second.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(second.communicate(), 30)
    assert second.returncode == 0, output.decode()
    assert len(fake_resend.sent) == 1
    keys = {r.headers["Idempotency-Key"] for r in fake_resend.received("/emails")}
    assert keys == {f"notification/{notification_id}"}


async def _received(fake: FakeResend, count: int) -> bool:
    return len(fake.received("/emails")) >= count


async def _sent_and_dequeued(db: PostgresEngine, notification_id: UUID) -> bool:
    return await notification_status(notification_id) == "sent" and await queue_rows(db) == []


async def test_sigterm_past_the_drain_bound_cancels_the_job_and_another_worker_takes_it_up(
    settings: Settings, db: PostgresEngine, fake_resend: FakeResend
) -> None:
    """The drain waits UMBRELLA_WORKER_SHUTDOWN_GRACE_SECONDS, not for a send that hangs."""
    fake_resend.hang_seconds = 60.0  # far past the drain bound
    providers = use_fake_resend(
        settings,
        fake_resend,
        email_timeout_seconds=90.0,
        job_heartbeat_timeout_seconds=2.0,
        worker_shutdown_grace_seconds=1.0,
    )
    user_id = await make_user(email="luna@example.com")
    [notification_id] = await notify_user(user_id=user_id, kind="welcome", payload={"name": "Luna"})
    [job] = await queue_rows(db)
    fake_resend.fail("timeout")
    env = subprocess_env(providers, UMBRELLA_WORKER_METRICS_PORT=str(free_port()))

    first = await start_umbrella("worker", env=env)
    try:
        await eventually(
            lambda: _received(fake_resend, 1), what="the worker is mid-send", seconds=30
        )
        first.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        output, _ = await asyncio.wait_for(first.communicate(), 30)
        took = time.monotonic() - stopped_at
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()
    assert first.returncode == 0, output.decode()[-3000:]
    assert took < 10, f"the drain took {took:.1f} s despite its 1 s bound"
    [cancelled] = [
        json.loads(line)
        for line in output.decode().splitlines()
        if line.startswith("{") and "drain bound passed" in line and "running jobs" in line
    ]
    assert cancelled["cancelled"] == [f"send_notification#{job['id']}"]
    assert b'"level": "error"' not in output, output.decode()[-3000:]
    [left] = await queue_rows(db)
    assert left["status"] == "picked"  # neither lost nor marked done: its heartbeat lapses
    assert await notification_status(notification_id) == "queued"

    fake_resend.hang_seconds = 0.0
    env["UMBRELLA_WORKER_METRICS_PORT"] = str(free_port())
    second = await start_umbrella("worker", env=env)
    try:
        await eventually(
            lambda: _sent_and_dequeued(db, notification_id), what="taken up again", seconds=30
        )
    finally:
        second.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(second.communicate(), 30)
    assert second.returncode == 0, output.decode()[-3000:]
    assert len(fake_resend.sent) == 1
