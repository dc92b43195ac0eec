"""Probes and metrics: what Kubernetes, Prometheus and on-call see."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.conftest import start_client
from umbrella import keys
from umbrella.app import create_app
from umbrella.config import Settings
from umbrella.devstack import DevStack

Client = TestClient[web.Request, web.Application]


async def test_livez_and_readyz_when_everything_is_up(client: Client) -> None:
    assert (await client.get("/livez")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {
        "status": "ready",
        "checks": {"postgres": "ok", "redis": "ok", "s3": "ok"},
    }


async def test_health_reports_latency_per_dependency(client: Client) -> None:
    response = await client.get("/health")
    body = await response.json()
    assert response.status == 200
    assert body["status"] == "ok"
    for name in ("postgres", "redis", "s3"):
        assert body["dependencies"][name]["status"] == "ok"
        assert body["dependencies"][name]["latency_ms"] >= 0


async def test_readyz_names_redis_when_it_is_down_and_recovers(
    settings: Settings, own_redis: DevStack
) -> None:
    redis_settings = settings.model_copy(update={"redis_url": own_redis.endpoints.redis_url})
    client = await start_client(create_app(redis_settings))
    try:
        own_redis.processes["redis"].stop()
        down = await client.get("/readyz")
        assert down.status == 503
        body = await down.json()
        assert body["down"] == ["redis"]
        assert body["checks"] == {"postgres": "ok", "redis": "down", "s3": "ok"}
        health = await (await client.get("/health")).json()
        assert health["status"] == "degraded"
        assert health["dependencies"]["redis"]["status"] == "down"

        own_redis.restart("redis")
        assert (await client.get("/readyz")).status == 200
    finally:
        await client.close()


async def test_readyz_fails_while_draining(client: Client) -> None:
    client.app[keys.READINESS].draining = True
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["status"] == "draining"
    assert (await client.get("/livez")).status == 200


async def test_metrics_label_route_templates_not_raw_paths(client: Client) -> None:
    await client.get("/v1/auth/session")
    await client.get("/v1/some/raw/path/with-an-id-12345")
    await client.get("/health")
    text = await (await client.get("/metrics")).text()
    assert (
        'umbrella_http_request_duration_seconds_count{method="GET",reason="",'
        'route="/v1/auth/session",status="401"} 1.0' in text
    )
    assert 'route="unmatched"' in text
    assert "with-an-id-12345" not in text
    assert "umbrella_http_requests_in_flight" in text
    assert 'umbrella_dependency_up{dependency="postgres"} 1.0' in text
