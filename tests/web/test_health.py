"""Probes and metrics: what Kubernetes, Prometheus and on-call see.

Readiness needs Postgres only. `/health` tells anyone that the process answers, and each
dependency's state only to the health token or an in-cluster caller, from checks that a
flood of callers shares.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from redis.asyncio import Redis

from tests.conftest import start_client
from tests.workers import eventually
from umbrella.app import create_app
from umbrella.config import Settings
from umbrella.devstack import DevStack
from umbrella.web import health

Client = TestClient[web.Request, web.Application]
HEALTH_TOKEN = secrets.token_urlsafe(24)
DETAILS = {"Authorization": f"Bearer {HEALTH_TOKEN}"}


async def _started(
    settings: Settings, *, every_seconds: float = 3600, reuse_seconds: float = 2.0, **update: Any
) -> Client:
    """The api with the health token set, its background check as slow or fast as asked."""
    token = SecretStr(HEALTH_TOKEN)
    app = create_app(settings.model_copy(update={"health_token": token, **update}))
    app[health.HEALTH] = health.DependencyChecks(
        app, every_seconds=every_seconds, reuse_seconds=reuse_seconds
    )
    return await start_client(app)


@pytest.fixture
async def with_own_redis(settings: Settings, own_redis: DevStack) -> AsyncIterator[Client]:
    """The api on a Redis of its own, whose command counts only this test moves."""
    client = await _started(settings, redis_url=own_redis.endpoints.redis_url)
    yield client
    await client.close()


async def _redis_commands(url: str) -> dict[str, int]:
    """Calls per command the Redis server has answered (the counting connection's left out)."""
    redis = Redis.from_url(url)
    try:
        stats = await redis.info("commandstats")
    finally:
        await redis.aclose()
    own = {"cmdstat_info", "cmdstat_hello", "cmdstat_client"}
    return {name: int(value["calls"]) for name, value in stats.items() if name not in own}


async def test_livez_and_readyz_when_everything_is_up(client: Client) -> None:
    assert (await client.get("/livez")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {"status": "ready"}


async def test_the_health_token_shows_each_dependency_with_its_latency(
    with_own_redis: Client,
) -> None:
    response = await with_own_redis.get("/health", headers=DETAILS)
    body = await response.json()
    assert response.status == 200
    assert body["status"] == "ok"
    assert set(body["dependencies"]) == {"postgres", "redis", "s3"}
    for name in ("postgres", "redis", "s3"):
        assert body["dependencies"][name]["status"] == "ok"
        assert body["dependencies"][name]["latency_ms"] >= 0
    assert 0 <= body["age_seconds"] <= 2


async def test_anonymous_and_wrong_token_callers_learn_nothing_and_cost_nothing(
    with_own_redis: Client, own_redis: DevStack
) -> None:
    url = str(own_redis.endpoints.redis_url)
    await with_own_redis.app[health.HEALTH].report()  # the start-up check is behind us
    before = await _redis_commands(url)
    callers: list[dict[str, str]] = [
        {},
        {"Authorization": f"Bearer {HEALTH_TOKEN}x"},
        {"Authorization": "Bearer " + "a" * len(HEALTH_TOKEN)},
        {"Authorization": HEALTH_TOKEN},  # not as a bearer token
        {"X-Forwarded-For": "10.0.0.1"},
    ]
    for headers in callers * 4:
        response = await with_own_redis.get("/health", headers=headers)
        assert response.status == 200
        assert await response.json() == {"status": "ok"}
    assert await _redis_commands(url) == before

    # Redis going away changes nothing an anonymous caller can see.
    own_redis.processes["redis"].stop()
    anonymous = await with_own_redis.get("/health")
    assert (anonymous.status, await anonymous.json()) == (200, {"status": "ok"})


async def test_in_cluster_callers_see_details_when_proxies_are_declared(
    settings: Settings,
) -> None:
    """Behind declared proxies, a request without forwarding headers did not pass them."""
    behind_proxy = await _started(settings, trusted_proxy_hops=1, health_token=None)
    try:
        direct = await behind_proxy.get("/health")
        assert direct.status == 200
        assert set((await direct.json())["dependencies"]) == {"postgres", "redis", "s3"}
        for forwarded in ({"X-Forwarded-For": "203.0.113.9"}, {"Forwarded": "for=203.0.113.9"}):
            through_proxy = await behind_proxy.get("/health", headers=forwarded)
            assert await through_proxy.json() == {"status": "ok"}
    finally:
        await behind_proxy.close()
    # With no proxy declared a direct caller may be anyone.
    no_proxy = await _started(settings, trusted_proxy_hops=0, health_token=None)
    try:
        assert await (await no_proxy.get("/health")).json() == {"status": "ok"}
    finally:
        await no_proxy.close()


async def test_a_flood_of_detailed_health_calls_shares_one_check(
    settings: Settings, own_redis: DevStack
) -> None:
    url = str(own_redis.endpoints.redis_url)
    client = await _started(settings, redis_url=url, reuse_seconds=0)
    try:
        await client.app[health.HEALTH].report()
        before = (await _redis_commands(url)).get("cmdstat_ping", 0)
        # Hold Redis still so every request arrives while the one check is in flight.
        pauser = Redis.from_url(url)
        await pauser.execute_command("CLIENT", "PAUSE", "300", "ALL")
        await pauser.aclose()
        responses = await asyncio.gather(
            *(client.get("/health", headers=DETAILS) for _ in range(40))
        )
        assert {response.status for response in responses} == {200}
        await asyncio.sleep(0.3)
        assert (await _redis_commands(url)).get("cmdstat_ping", 0) - before == 1
    finally:
        await client.close()


async def test_redis_down_keeps_the_pod_ready_and_the_gauge_fresh(
    settings: Settings, own_redis: DevStack, caplog: pytest.LogCaptureFixture
) -> None:
    """Nobody calls /health here: the background check alone moves the gauge and logs."""
    caplog.set_level(logging.INFO, logger="umbrella.web.health")
    client = await _started(settings, redis_url=own_redis.endpoints.redis_url, every_seconds=0.1)

    async def redis_up_is(value: str) -> bool:
        text = await (await client.get("/metrics")).text()
        return f'umbrella_dependency_up{{dependency="redis"}} {value}' in text

    try:
        await eventually(lambda: redis_up_is("1.0"), what="redis up")
        own_redis.processes["redis"].stop()
        await eventually(lambda: redis_up_is("0.0"), what="redis reported down")
        ready = await client.get("/readyz")
        assert (ready.status, await ready.json()) == (200, {"status": "ready"})
        report = await (await client.get("/health", headers=DETAILS)).json()
        assert report["status"] == "degraded"
        assert report["dependencies"]["redis"]["status"] == "down"
        assert report["dependencies"]["redis"]["error"] == "ConnectionError"
        await asyncio.sleep(0.5)  # a few more failing checks: still one warning

        own_redis.restart("redis")
        await eventually(lambda: redis_up_is("1.0"), what="redis back up")
        await asyncio.sleep(0.3)
    finally:
        await client.close()
    logged = [(record.levelname, record.getMessage()) for record in caplog.records]
    assert logged.count(("WARNING", "dependency down")) == 1
    assert logged.count(("INFO", "dependency recovered")) == 1


async def test_readyz_fails_while_draining(client: Client) -> None:
    client.app[health.READINESS].draining = True
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["status"] == "draining"
    assert (await client.get("/livez")).status == 200


async def test_metrics_label_route_templates_not_raw_paths(client: Client) -> None:
    await client.get("/v1/auth/session")
    await client.get("/v1/some/raw/path/with-an-id-12345")
    await client.get("/readyz")  # checks Postgres, whatever the background check is at
    text = await (await client.get("/metrics")).text()
    assert (
        'umbrella_http_request_duration_seconds_count{method="GET",reason="",'
        'route="/v1/auth/session",status="401"} 1.0' in text
    )
    assert 'route="unmatched"' in text
    assert "with-an-id-12345" not in text
    assert "umbrella_http_requests_in_flight" in text
    assert 'umbrella_dependency_up{dependency="postgres"} 1.0' in text
