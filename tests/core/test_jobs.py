"""The job queue: enqueued with the business write, run by `umbrella worker`."""

from __future__ import annotations

import asyncio
import signal

import pytest
from piccolo.engine.postgres import PostgresEngine
from redis.asyncio import Redis

from tests.conftest import start_umbrella, subprocess_env
from umbrella.accounts.service import cache_key
from umbrella.config import Settings
from umbrella.core import jobs
from umbrella.devstack import free_port


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
        assert 'umbrella_jobs_total{job="purge_session_cache",outcome="succeeded"} 1.0' in text
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(worker.communicate(), 30)
    assert worker.returncode == 0, output.decode()
    assert b"worker stopped" in output
