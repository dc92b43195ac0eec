"""A session revoked while Redis is down stays revoked when Redis comes back with its data."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from tests.conftest import Servers, make_settings, start_client
from tests.factories import bearer_for, make_user
from umbrella.accounts.service import cache_key, hash_token
from umbrella.app import create_app
from umbrella.devstack import DevStack

# "Within a few seconds" of Redis being back: the revocation check runs this often.
CHECK_SECONDS = 1.0
REFUSED_WITHIN_SECONDS = 5.0


@pytest.fixture
async def client(
    servers: Servers, database_url: str, own_redis: DevStack
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """An api on a Redis of its own (stopped and restarted by the tests), checking the
    revocation epoch every CHECK_SECONDS."""
    settings = make_settings(
        servers,
        database_url=database_url,
        redis_url=str(own_redis.endpoints.redis_url),
        redis_timeout_seconds=0.3,
        session_revocation_check_seconds=CHECK_SECONDS,
    )
    client = await start_client(create_app(settings))
    try:
        yield client
    finally:
        await client.close()


async def test_a_session_revoked_during_a_redis_outage_is_refused_once_redis_is_back(
    client: TestClient[web.Request, web.Application], own_redis: DevStack
) -> None:
    redis_url = str(own_redis.endpoints.redis_url)
    redis = Redis.from_url(redis_url)
    try:
        user_id = await make_user()
        headers = await bearer_for(client.app, user_id)
        key = cache_key(hash_token(headers["Authorization"].removeprefix("Bearer ")))
        assert (await client.get("/v1/auth/session", headers=headers)).status == 200
        assert await redis.exists(key), "the session is cached in Redis"
        # Its data on disk, as the cluster's Redis keeps it (`appendonly yes`): a restart
        # brings back every key it held when it went down.
        await redis.save()

        await asyncio.to_thread(own_redis.processes["redis"].stop)
        signed_out = await client.delete("/v1/auth/session", headers=headers)
        assert signed_out.status == 200, await signed_out.text()
        await asyncio.to_thread(own_redis.restart, "redis")
        await redis.aclose()
        redis = Redis.from_url(redis_url)
        assert await redis.exists(key), "Redis came back remembering the revoked session"

        back = time.monotonic()
        statuses = []
        while time.monotonic() - back < REFUSED_WITHIN_SECONDS + 3:
            response = await client.get("/v1/auth/session", headers=headers)
            statuses.append((round(time.monotonic() - back, 1), response.status))
            await asyncio.sleep(0.2)
        refused_after = next((t for t, status in statuses if status == 401), None)
        assert refused_after is not None, f"the revoked token still works: {statuses}"
        assert refused_after <= REFUSED_WITHIN_SECONDS, statuses
        assert all(status == 401 for t, status in statuses if t >= refused_after), statuses
    finally:
        await redis.aclose()


async def test_a_live_session_keeps_working_across_the_same_outage(
    client: TestClient[web.Request, web.Application], own_redis: DevStack
) -> None:
    redis_url = str(own_redis.endpoints.redis_url)
    keeper = await bearer_for(client.app, await make_user())
    leaver_id = await make_user()
    leaver = await bearer_for(client.app, leaver_id)
    async with Redis.from_url(redis_url) as redis:
        await redis.save()
    await asyncio.to_thread(own_redis.processes["redis"].stop)
    assert (await client.delete("/v1/auth/session", headers=leaver)).status == 200
    assert (await client.get("/v1/auth/session", headers=keeper)).status == 200
    await asyncio.to_thread(own_redis.restart, "redis")
    await asyncio.sleep(CHECK_SECONDS * 2)
    for _ in range(3):
        assert (await client.get("/v1/auth/session", headers=keeper)).status == 200
        assert (await client.get("/v1/auth/session", headers=leaver)).status == 401
