"""Redis, S3 and Postgres stopped in turn under load: 503s or the fallback, never a 500.

Each test runs the api on a server of its own for the dependency it stops, sends a
steady mix of requests (tests/security/chaos.py), stops that server for a couple of
seconds, starts it again and checks, with every request counted:

- before and after the outage every answer is right (the api recovered by itself);
- during it every answer is right or a 503 error envelope (for Redis: always right,
  Postgres answers instead, ARCHITECTURE §5); never a 500, a wrong answer or a hang;
- `/readyz` says not ready while Postgres is down and ready again after; Redis or S3 down
  leave the pod ready, and the api's own dependency check sees them go and come back;
- every message acknowledged with 201 is in Postgres, every confirmed upload has its
  file row, and the jobs queued meanwhile all run once the worker can reach everything.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.conftest import start_client
from tests.factories import bearer_for
from tests.security.chaos import (
    Load,
    make_cast,
    stored_files,
    stored_messages,
    wait_for_readiness,
)
from tests.workers import eventually, in_process_worker, queue_rows
from umbrella import keys
from umbrella.app import create_app
from umbrella.config import Settings
from umbrella.core.migrations import migrate
from umbrella.devstack import DevStack
from umbrella.notifications.tables import Notification
from umbrella.web import health

Client = TestClient[web.Request, web.Application]

CONCURRENCY = 12
OUTAGE_SECONDS = 2.0

# Fail fast on a dead server, and let the load through the abuse limits (one test IP).
FAST_FAILING: dict[str, Any] = {
    "db_connect_timeout_seconds": 1.0,
    "s3_timeout_seconds": 1.0,
    "redis_timeout_seconds": 0.5,
    "health_timeout_seconds": 1.0,
    "write_rate_limit_per_minute": 100_000,
    "write_rate_limit_per_ip_per_minute": 100_000,
    "upload_rate_limit_per_minute": 100_000,
    "upload_rate_limit_per_hour": 1_000_000,
}


async def outage(client: Client, stack: DevStack, name: str) -> Load:
    """Load the api, stop `name` for OUTAGE_SECONDS, start it again, load it once more."""
    url = str(client.make_url("")).rstrip("/")

    async def sign_in(user_id: Any) -> dict[str, str]:
        return await bearer_for(client.app, user_id)

    async def route() -> list[str]:
        return [url]

    async with aiohttp.ClientSession() as http:
        cast = await make_cast(http, url, sign_in, artists=4)
        load = Load(http=http, route=route, cast=cast)
        load.start(CONCURRENCY)
        try:
            await asyncio.sleep(1.0)

            async def files_confirmed() -> bool:
                return bool(load.confirmed_files)

            # A busy machine may not finish a first round in that second: the outage starts
            # once uploads go through, so some stored upload meets the store down at confirm.
            await eventually(files_confirmed, seconds=30, what="a first confirmed upload")
            load.phase = "down"
            await asyncio.to_thread(stack.processes[name].stop)
            if name == "postgres":
                await wait_for_readiness(http, url, ready=False, seconds=5)
            else:
                await dependency_seen(client, name, up=False)
                async with http.get(f"{url}/readyz") as still_ready:
                    assert still_ready.status == 200
            await asyncio.sleep(OUTAGE_SECONDS)
            load.phase = "recovering"
            await asyncio.to_thread(stack.restart, name)
            await wait_for_readiness(http, url, ready=True, seconds=20)
            await dependency_seen(client, name, up=True)
            load.phase = "after"
            await asyncio.sleep(1.5)
        finally:
            await load.stop()
        await load.confirm_leftovers()
    return load


async def dependency_seen(client: Client, name: str, *, up: bool) -> None:
    """Wait until the api's dependency check (what /health details show) sees `name` so."""

    async def seen() -> bool:
        report = await client.app[health.HEALTH].report()
        return (name in report.down) != up

    await eventually(seen, seconds=20, what=f"{name} seen {'up' if up else 'down'}")


def assert_served_through(load: Load, *, fallback: bool) -> None:
    """No wrong answer ever; only right ones outside the outage (and during it: fallback)."""
    summary = load.summary()
    assert not load.problems(), summary
    for phase in ("before", "after"):
        served = load.in_phase(phase)
        assert served, f"no request ran {phase} the outage: {summary}"
        assert all(o.status in (200, 201) for o in served), f"{phase}: {summary}"
    down = [o for o in load.outcomes if o.phase == "down" or o.phase_after == "down"]
    assert len(down) >= CONCURRENCY, f"too little load during the outage: {summary}"
    if fallback:
        assert all(o.status in (200, 201) for o in down), summary
    else:
        assert any(o.status == 503 for o in down), summary
    # Each client finished at least one full round after the recovery.
    kinds = {o.kind for o in load.in_phase("after")}
    assert {"profile", "browse", "inbox", "session", "send"} <= kinds, summary


async def assert_nothing_lost(load: Load, settings: Settings, client: Client) -> None:
    """Acknowledged writes are stored; queued jobs (inbox syncs, emails) all run."""
    # A 503 at confirm leaves the stored upload for the client to confirm again: 201, or 200
    # with the same file when the first confirm committed but its answer was lost.
    retried = load.retried_confirms
    assert retried, "no upload was left to confirm again"
    assert all(status in (200, 201) for status in retried), f"retried: {retried}"
    stored = await stored_messages(load.acked_messages)
    assert stored == load.acked_messages, (
        f"{len(load.acked_messages)} acked, {len(stored)} of them stored: {load.summary()}"
    )
    assert await stored_files(load.confirmed_files) == load.confirmed_files, load.summary()
    async with in_process_worker(settings, store=client.app[keys.STORAGE]):

        async def drained() -> bool:
            return await queue_rows(client.app[keys.DB]) == []

        await eventually(drained, seconds=20, what="every queued job ran")
    waiting = await Notification.count().where(Notification.status == "queued")
    assert waiting == 0, f"{waiting} notifications never sent"


async def test_redis_down_under_load_falls_back_to_postgres(
    settings: Settings, own_redis: DevStack
) -> None:
    configured = settings.model_copy(
        update={**FAST_FAILING, "redis_url": own_redis.endpoints.redis_url}
    )
    client = await start_client(create_app(configured))
    try:
        load = await outage(client, own_redis, "redis")
        assert_served_through(load, fallback=True)
        await assert_nothing_lost(load, configured, client)
    finally:
        await client.close()


async def test_s3_down_under_load_gives_503_for_confirms_only(
    settings: Settings, own_s3: DevStack
) -> None:
    configured = settings.model_copy(
        update={**FAST_FAILING, "s3_endpoint": own_s3.endpoints.s3_endpoint}
    )
    client = await start_client(create_app(configured))
    try:
        load = await outage(client, own_s3, "s3")
        assert_served_through(load, fallback=False)
        # Only a confirm needs the store (an upload URL is signed here): all else goes on.
        during = [o for o in load.outcomes if o.status == 503]
        assert {o.kind for o in during} == {"confirm"}, load.summary()
        assert load.store_refusals > 0, load.summary()
        assert any(o.kind == "confirm" and o.status == 503 for o in during), load.summary()
        await assert_nothing_lost(load, configured, client)
    finally:
        await client.close()


async def test_postgres_down_under_load_gives_503_and_recovers(
    settings: Settings, own_postgres: DevStack
) -> None:
    configured = settings.model_copy(
        update={**FAST_FAILING, "database_url": own_postgres.endpoints.database_url}
    )
    await migrate(configured)
    client = await start_client(create_app(configured))
    try:
        load = await outage(client, own_postgres, "postgres")
        assert_served_through(load, fallback=False)
        await assert_nothing_lost(load, configured, client)
    finally:
        await client.close()
