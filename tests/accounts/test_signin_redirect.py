"""Redirect mode: with the web app's URL configured, the browser always lands there.

Sign-in runs in the browser's address bar, not in `fetch`: a JSON error there strands the
person on a page of JSON. So every answer of the login link and of the callbacks, success
or failure, is a 303 to the web app, which explains the failure from `error` and `field`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from pydantic import SecretStr
from redis.asyncio import Redis
from yarl import URL

from tests.accounts.conftest import client_for
from tests.accounts.flows import away_from_window_edge, callback_for, counts, sign_in, states
from tests.fakes.oidc import FakeOidcProvider, google_only
from tests.metrics import sample
from umbrella import keys
from umbrella.config import Settings
from umbrella.core.migrations import migrate
from umbrella.devstack import DevStack

Client = TestClient[web.Request, web.Application]

WEB_APP = "https://app.example/signed-in"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def in_web_app(settings: Settings) -> Settings:
    return settings.model_copy(update={"auth_redirect_url": WEB_APP})


@pytest.fixture
async def app_client(oidc_settings: Settings) -> AsyncIterator[Client]:
    """The API with Google and Apple at the fake provider, and a web app to send people to."""
    client = await client_for(in_web_app(oidc_settings))
    yield client
    await client.close()


def landing(response: ClientResponse) -> dict[str, str]:
    """The query the web app receives; the answer must be a 303 to it, never stored."""
    assert response.status == 303, response.status
    assert response.headers["Cache-Control"] == "no-store"
    location = URL(response.headers["Location"])
    assert location.with_query(None) == URL(WEB_APP)
    return dict(location.query)


async def test_with_a_web_app_the_callback_redirects_there_with_the_next_step(
    app_client: Client,
) -> None:
    response = await sign_in(app_client, "google")
    assert landing(response) == {"onboarding_complete": "false", "next_step": "role"}
    token = response.cookies["umbrella_session"].value
    assert token not in response.headers["Location"]
    session = await app_client.get("/v1/auth/session", headers=bearer(token))
    assert session.status == 200

    # a failure lands there too, with the code and field the web app explains
    replay = await app_client.get(
        "/v1/auth/callback/google?state=nope&code=x", allow_redirects=False
    )
    assert landing(replay) == {"error": "VALIDATION_ERROR", "field": "state"}


async def test_an_unknown_or_unconfigured_provider_at_login_lands_in_the_web_app(
    settings: Settings, fake_oidc: FakeOidcProvider
) -> None:
    client = await client_for(in_web_app(google_only(settings, fake_oidc)))
    try:
        for path in ("/v1/auth/login/apple", "/v1/auth/login/github"):
            response = await client.get(path, allow_redirects=False)
            assert landing(response) == {"error": "NOT_FOUND", "field": "provider"}
            assert "umbrella_session_signin" not in response.cookies
        assert await states() == 0
    finally:
        await client.close()


async def test_a_rate_limited_sign_in_lands_in_the_web_app_and_still_counts(
    oidc_settings: Settings, redis_client: Redis
) -> None:
    client = await client_for(
        in_web_app(oidc_settings).model_copy(update={"auth_rate_limit_per_minute": 3})
    )
    try:
        await away_from_window_edge()
        callback = await callback_for(client, "google")  # one of the three
        for _ in range(2):
            await client.get("/v1/auth/login/google", allow_redirects=False)
        refused = await client.get("/v1/auth/login/google", allow_redirects=False)
        query = landing(refused)
        assert query.keys() == {"error", "retry_after"}
        assert query["error"] == "RATE_LIMIT_EXCEEDED"
        assert 1 <= int(query["retry_after"]) <= 60
        assert "umbrella_session_signin" not in refused.cookies

        # the callback is refused the same way, and nothing is signed in
        late = landing(await callback.send(client))
        assert (late["error"], set(late)) == ("RATE_LIMIT_EXCEEDED", {"error", "retry_after"})
        assert await counts() == (0, 0)
        # the redirected refusals are counted like any other request
        keys = [key async for key in redis_client.scan_iter("ratelimit:auth:*")]
        assert len(keys) == 1
        assert int(await redis_client.get(keys[0]) or 0) == 5
    finally:
        await client.close()


async def test_a_provider_down_at_login_lands_in_the_web_app(
    app_client: Client, fake_oidc: FakeOidcProvider
) -> None:
    # the discovery document cannot be fetched, and none is cached yet
    fake_oidc.fail("500", times=10)
    response = await app_client.get("/v1/auth/login/google", allow_redirects=False)
    assert landing(response) == {"error": "SERVICE_UNAVAILABLE"}
    assert "umbrella_session_signin" not in response.cookies

    fake_oidc.heal()
    assert (await app_client.get("/v1/auth/login/google", allow_redirects=False)).status == 302


async def test_postgres_down_at_login_lands_in_the_web_app(
    oidc_settings: Settings, own_postgres: DevStack
) -> None:
    pg_settings = oidc_settings.model_copy(
        update={
            "database_url": own_postgres.endpoints.database_url,
            "db_connect_timeout_seconds": 1,
        }
    )
    await migrate(pg_settings)
    client = await client_for(in_web_app(pg_settings))
    try:
        # the discovery document is cached: only the state's insert needs Postgres
        assert (await client.get("/v1/auth/login/google", allow_redirects=False)).status == 302
        own_postgres.processes["postgres"].stop()
        response = await client.get("/v1/auth/login/google", allow_redirects=False)
        assert landing(response) == {"error": "SERVICE_UNAVAILABLE"}
        assert "umbrella_session_signin" not in response.cookies
    finally:
        await client.close()


async def test_our_own_misconfiguration_still_lands_in_the_web_app(
    oidc_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # a wrong client secret: the provider refuses us (invalid_client), a 500 of ours
    wrong = oidc_settings.model_copy(update={"google_client_secret": SecretStr("not-it")})
    client = await client_for(in_web_app(wrong))
    try:
        response = await sign_in(client, "google")
        assert landing(response) == {"error": "INTERNAL_ERROR"}
        assert await counts() == (0, 0)
        # logged with its stack, as the error middleware logs what it did not expect
        logged = [r for r in caplog.records if r.name == "umbrella.errors"]
        assert [(r.getMessage(), r.exc_info is not None) for r in logged] == [
            ("unhandled error", True)
        ]
    finally:
        await client.close()


def requests_answered(client: Client, route: str, status: str, method: str = "GET") -> float:
    labels = {"route": route, "method": method, "status": status, "reason": ""}
    metrics = client.app[keys.METRICS]
    return sample(metrics, "umbrella_http_request_duration_seconds_count", **labels)


async def test_the_request_metric_counts_a_redirected_failure_as_its_error(
    oidc_settings: Settings, fake_oidc: FakeOidcProvider
) -> None:
    client = await client_for(
        in_web_app(oidc_settings).model_copy(update={"auth_rate_limit_per_minute": 1})
    )
    login = "/v1/auth/login/{provider}"
    try:
        fake_oidc.fail("500", times=10)
        await away_from_window_edge()
        # the provider is down: an outage the availability SLO must see
        assert landing(await client.get("/v1/auth/login/google", allow_redirects=False))
        # and past the limit: a 429 for the rate-limit dashboards
        assert landing(await client.get("/v1/auth/login/google", allow_redirects=False))
        assert requests_answered(client, login, "503") == 1
        assert requests_answered(client, login, "429") == 1
        assert requests_answered(client, login, "303") == 0
    finally:
        await client.close()
