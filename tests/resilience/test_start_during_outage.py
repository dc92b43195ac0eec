"""Pods start while Redis or S3 is away (a node drain, a Redis failover) and catch up later.

Only Postgres is needed to serve; Redis and S3 are used again as soon as they answer, and a
bucket that could not be checked at start is checked (and created when allowed) then.
"""

from __future__ import annotations

import secrets
from typing import Any

import aiohttp
from piccolo.engine.postgres import PostgresEngine
from redis.asyncio import Redis

from tests.conftest import subprocess_env
from tests.factories import make_artist
from tests.resilience.running import Running, wait_for_status
from tests.uploads import PNG, post_form
from tests.workers import eventually
from umbrella.config import Settings
from umbrella.devstack import DevStack, free_port


async def _json(response: aiohttp.ClientResponse, status: int) -> Any:
    assert response.status == status, await response.text()
    return await response.json()


async def test_api_and_worker_start_during_a_redis_and_s3_outage_then_use_them(
    settings: Settings, db: PostgresEngine, own_redis: DevStack, own_s3: DevStack
) -> None:
    email = "early@example.com"
    await make_artist(email=email)
    health_token = secrets.token_urlsafe(24)
    port, worker_port = free_port(), free_port()
    outage_settings = settings.model_copy(
        update={
            "redis_url": own_redis.endpoints.redis_url,
            "s3_endpoint": own_s3.endpoints.s3_endpoint,
            "s3_timeout_seconds": 1.0,
        }
    )
    env = subprocess_env(
        outage_settings,
        UMBRELLA_ENV="development",
        UMBRELLA_HOST="127.0.0.1",
        UMBRELLA_PORT=str(port),
        UMBRELLA_WORKER_METRICS_PORT=str(worker_port),
        UMBRELLA_HEALTH_TOKEN=health_token,
    )
    own_redis.processes["redis"].stop()
    own_s3.processes["s3"].stop()

    api = await Running.start("api", env=env)
    worker = await Running.start("worker", env=env)
    url = f"http://127.0.0.1:{port}"
    detailed = {"Authorization": f"Bearer {health_token}"}
    try:
        await wait_for_status(f"{url}/readyz", api)
        await wait_for_status(f"http://127.0.0.1:{worker_port}/livez", worker)
        async with aiohttp.ClientSession() as http:
            signed_in = await _json(
                await http.post(f"{url}/v1/auth/dev-login", json={"email": email}), 200
            )
            headers = {"Authorization": f"Bearer {signed_in['data']['token']}"}
            await _json(await http.get(f"{url}/v1/auth/session", headers=headers), 200)
            report = await _json(await http.get(f"{url}/health", headers=detailed), 503)
            assert {name: dep["status"] for name, dep in report["dependencies"].items()} == {
                "postgres": "ok",
                "redis": "down",
                "s3": "down",
            }

            own_redis.restart("redis")
            own_s3.restart("s3")

            async def all_up() -> bool:
                async with http.get(f"{url}/health", headers=detailed) as response:
                    return response.status == 200

            await eventually(all_up, seconds=30, what="/health all ok after the outage")

            # The bucket nobody could check at start exists now: an upload goes through.
            ticket = await _json(
                await http.post(
                    f"{url}/v1/files/upload",
                    json={"content_type": "image/png", "size_bytes": len(PNG), "filename": "a"},
                    headers=headers,
                ),
                201,
            )
            status, text = await post_form(ticket["data"]["url"], ticket["data"]["fields"], PNG)
            assert status in (200, 201, 204), text
            await _json(
                await http.post(
                    f"{url}/v1/files",
                    json={"upload_id": ticket["data"]["upload_id"]},
                    headers=headers,
                ),
                201,
            )

            # Sessions are cached in Redis again.
            await _json(await http.get(f"{url}/v1/auth/session", headers=headers), 200)
            redis = Redis.from_url(str(own_redis.endpoints.redis_url))
            try:
                assert await redis.keys("session:*")
            finally:
                await redis.aclose()
    finally:
        api_code, worker_code = await api.stop(), await worker.stop()
    assert api_code == 0, api.output()
    assert worker_code == 0, worker.output()
    for process in (api, worker):
        assert len(process.events("redis unreachable at start; continuing without it")) == 1
        assert len(process.events("s3 unreachable at start; continuing without it")) == 1
