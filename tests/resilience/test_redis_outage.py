"""Redis goes away under a running api: slower, never wrong, and never out of the Service."""

from __future__ import annotations

import secrets
from typing import Any

import aiohttp
from piccolo.engine.postgres import PostgresEngine
from redis.asyncio import Redis

from tests.conftest import subprocess_env
from tests.factories import make_user
from tests.resilience.running import Running, wait_for_status
from tests.workers import eventually
from umbrella.config import Settings
from umbrella.devstack import DevStack, free_port


async def _json(response: aiohttp.ClientResponse, status: int) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def test_redis_outage_keeps_the_api_ready_and_serving_then_it_is_used_again(
    settings: Settings, db: PostgresEngine, own_redis: DevStack
) -> None:
    email = "steady@example.com"
    await make_user(email=email)
    health_token = secrets.token_urlsafe(24)
    port = free_port()
    env = subprocess_env(
        settings.model_copy(update={"redis_url": own_redis.endpoints.redis_url}),
        UMBRELLA_ENV="development",
        UMBRELLA_HOST="127.0.0.1",
        UMBRELLA_PORT=str(port),
        UMBRELLA_HEALTH_TOKEN=health_token,
    )
    api = await Running.start("api", env=env)
    url = f"http://127.0.0.1:{port}"
    detailed = {"Authorization": f"Bearer {health_token}"}
    try:
        await wait_for_status(f"{url}/readyz", api)
        async with aiohttp.ClientSession() as http:
            signed_in = await _json(
                await http.post(f"{url}/v1/auth/dev-login", json={"email": email}), 200
            )
            headers = {"Authorization": f"Bearer {signed_in['data']['token']}"}

            own_redis.processes["redis"].stop()
            for _ in range(5):
                assert (await _json(await http.get(f"{url}/readyz"), 200)) == {"status": "ready"}
                session = await _json(
                    await http.get(f"{url}/v1/auth/session", headers=headers), 200
                )
                assert session["data"]["user"]["email"] == email

            async def redis_is(status: str) -> bool:
                async with http.get(f"{url}/health", headers=detailed) as response:
                    body = await response.json()
                    return bool(body["dependencies"]["redis"]["status"] == status)

            # Detailed callers share a check for a moment: the next one sees the outage.
            await eventually(lambda: redis_is("down"), seconds=10, what="/health: redis down")
            report = await _json(await http.get(f"{url}/health", headers=detailed), 503)
            assert report["status"] == "degraded"
            assert report["dependencies"]["redis"]["status"] == "down"
            assert report["dependencies"]["redis"]["error"] == "ConnectionError"
            assert report["dependencies"]["postgres"]["status"] == "ok"
            assert await _json(await http.get(f"{url}/health"), 200) == {"status": "ok"}

            own_redis.restart("redis")
            await eventually(lambda: redis_is("ok"), seconds=15, what="/health: redis back")
            # Sessions are cached in Redis again (the restarted Redis started empty).
            await _json(await http.get(f"{url}/v1/auth/session", headers=headers), 200)
            redis = Redis.from_url(str(own_redis.endpoints.redis_url))
            try:
                assert await redis.keys("session:*")
            finally:
                await redis.aclose()
    finally:
        code = await api.stop()
    assert code == 0, api.output()
    down = [event for event in api.events("dependency down") if event["dependency"] == "redis"]
    back = [e for e in api.events("dependency recovered") if e["dependency"] == "redis"]
    assert len(down) == 1, api.output()
    assert len(back) == 1, api.output()
