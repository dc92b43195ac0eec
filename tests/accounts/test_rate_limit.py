"""Sign-in routes are limited per client IP (10 a minute by default), with or without Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, make_mocked_request
from redis.asyncio import Redis

from tests.accounts.conftest import client_for
from tests.accounts.flows import away_from_window_edge, callback_for, counts
from tests.factories import make_user
from umbrella import keys
from umbrella.config import Environment, Settings
from umbrella.devstack import DevStack
from umbrella.web.ratelimit import client_ip, visitor
from umbrella.web.sessions import SESSION, SessionInfo

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def behind_one_proxy(oidc_settings: Settings) -> AsyncIterator[Client]:
    client = await client_for(oidc_settings.model_copy(update={"trusted_proxy_hops": 1}))
    yield client
    await client.close()


async def login(client: Client, forwarded_for: str | None = None) -> Any:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return await client.get("/v1/auth/login/google", allow_redirects=False, headers=headers)


async def test_the_eleventh_sign_in_request_in_a_minute_is_refused(
    client: Client, redis_client: Redis
) -> None:
    await away_from_window_edge()
    # login, callbacks and the rest share one budget per IP; the provider does not matter
    statuses = [(await client.get("/v1/auth/login/nowhere")).status for _ in range(10)]
    assert statuses == [404] * 10
    refused = await client.post("/v1/auth/callback/google", data={"state": "s"})
    assert refused.status == 429
    body = await refused.json()
    assert body["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    keys = [key.decode() async for key in redis_client.scan_iter("ratelimit:auth:*")]
    assert len(keys) == 1
    assert keys[0].startswith("ratelimit:auth:127.0.0.1:")
    assert 0 < await redis_client.ttl(keys[0]) <= 65


async def test_session_reads_and_sign_out_are_not_limited(client: Client) -> None:
    await away_from_window_edge()
    for _ in range(12):
        assert (await client.get("/v1/auth/session")).status == 401
        assert (await client.post("/v1/auth/logout")).status == 401


async def test_behind_a_proxy_each_forwarded_client_has_its_own_budget(
    behind_one_proxy: Client,
) -> None:
    await away_from_window_edge()
    for _ in range(10):
        assert (await login(behind_one_proxy, "203.0.113.7")).status == 302
    # what the client wrote left of our proxy's entry is not trusted
    assert (await login(behind_one_proxy, "198.51.100.1, 203.0.113.7")).status == 429
    assert (await login(behind_one_proxy, "203.0.113.8")).status == 302
    # the test client connects from 127.0.0.1, which has used nothing yet
    assert (await login(behind_one_proxy)).status == 302


async def test_without_a_trusted_proxy_the_forwarded_header_is_ignored(client: Client) -> None:
    await away_from_window_edge()
    for index in range(10):
        assert (await login(client, f"203.0.113.{index}")).status == 302
    assert (await login(client, "203.0.113.99")).status == 429


async def test_a_flood_of_refused_requests_writes_nothing(client: Client) -> None:
    await away_from_window_edge()
    callback = await callback_for(client, "google")  # one request of the budget
    for _ in range(9):
        await client.get("/v1/auth/login/nowhere")
    response = await callback.send(client)
    assert response.status == 429
    assert await counts() == (0, 0)


async def test_the_dev_login_is_limited_too(settings: Settings) -> None:
    client = await client_for(settings.model_copy(update={"env": Environment.DEVELOPMENT}))
    try:
        await make_user(email="dev@example.com")
        await away_from_window_edge()
        for _ in range(10):
            response = await client.post("/v1/auth/dev-login", json={"email": "dev@example.com"})
            assert response.status == 200
        refused = await client.post("/v1/auth/dev-login", json={"email": "dev@example.com"})
        assert refused.status == 429
    finally:
        await client.close()


async def test_the_limit_holds_in_process_while_redis_is_down(
    oidc_settings: Settings, own_redis: DevStack
) -> None:
    limited = oidc_settings.model_copy(
        update={"redis_url": own_redis.endpoints.redis_url, "auth_rate_limit_per_minute": 3}
    )
    client = await client_for(limited)
    try:
        own_redis.processes["redis"].stop()
        await away_from_window_edge()
        statuses = [(await login(client)).status for _ in range(4)]
        # never open, never 503: the fourth of three allowed is refused by this process
        assert statuses == [302, 302, 302, 429]
        metrics = await (await client.get("/metrics")).text()
        assert 'umbrella_cache_requests_total{cache="ratelimit",result="error"}' in metrics
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (0, "203.0.113.7", "10.0.0.1"),
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "6.6.6.6, 203.0.113.7", "203.0.113.7"),
        (2, "6.6.6.6, 203.0.113.7, 10.1.1.1", "203.0.113.7"),
        (2, "203.0.113.7", "10.0.0.1"),  # shorter than the proxies: the peer
        (1, "not-an-address", "10.0.0.1"),
        (1, "2001:DB8::1", "2001:db8::1"),
        (1, None, "10.0.0.1"),
    ],
)
def test_client_ip_takes_the_address_our_outermost_proxy_saw(
    hops: int, forwarded: str | None, expected: str
) -> None:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    request = make_mocked_request("GET", "/v1/auth/login/google", headers=headers)
    assert client_ip(request.clone(remote="10.0.0.1"), trusted_proxy_hops=hops) == expected


def test_a_visitor_is_the_user_or_a_hash_of_the_address(settings: Settings) -> None:
    app = web.Application()
    app[keys.SETTINGS] = settings
    anonymous = make_mocked_request("GET", "/v1/profile/x", app=app).clone(remote="203.0.113.7")
    anonymous[SESSION] = None
    other = make_mocked_request("GET", "/v1/profile/x", app=app).clone(remote="203.0.113.8")
    other[SESSION] = None
    assert visitor(anonymous).startswith("ip:")
    assert "203.0.113.7" not in visitor(anonymous)  # no address kept in Redis keys
    assert visitor(anonymous) != visitor(other)
    again = make_mocked_request("GET", "/v1/profile/y", app=app).clone(remote="203.0.113.7")
    again[SESSION] = None
    assert visitor(again) == visitor(anonymous)
    user_id = uuid.uuid4()
    signed_in = make_mocked_request("GET", "/v1/profile/x", app=app).clone(remote="203.0.113.7")
    signed_in[SESSION] = SessionInfo(
        token_hash="0" * 64, user_id=user_id, role="artist", expires_at=datetime.now(UTC)
    )
    assert visitor(signed_in) == f"u:{user_id}"
