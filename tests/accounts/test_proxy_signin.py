"""Trusted-proxy sign-in: `POST /v1/auth/callback` with the auth proxy's JWT in a header."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.accounts.flows import counts
from tests.conftest import start_client
from tests.factories import make_user
from tests.fakes.oidc import FakeOidcProvider
from umbrella.accounts.tables import User
from umbrella.app import create_app
from umbrella.config import Settings

Client = TestClient[web.Request, web.Application]
AUDIENCE = "umbrella-behind-access"
HEADER = "Cf-Access-Jwt-Assertion"


@pytest.fixture
def proxy_settings(settings: Settings, fake_oidc: FakeOidcProvider) -> Settings:
    """The fake provider plays the auth proxy: its keys sign the proxy's JWTs."""
    return settings.model_copy(
        update={
            "auth_proxy_jwks_url": fake_oidc.jwks_url,
            "auth_proxy_issuer": fake_oidc.issuer,
            "auth_proxy_audience": AUDIENCE,
        }
    )


@pytest.fixture
async def proxy_client(proxy_settings: Settings) -> AsyncIterator[Client]:
    client = await start_client(create_app(proxy_settings))
    yield client
    await client.close()


def proxy_token(fake: FakeOidcProvider, **claims: Any) -> str:
    values = {"email": "Nova@Example.com", "name": "Nova Reyes", **claims}
    return fake.mint(fake.claims(AUDIENCE, **values))


async def error_of(response: Any) -> dict[str, Any]:
    error: dict[str, Any] = (await response.json())["error"]
    return error


async def test_the_proxy_callback_does_not_exist_unless_configured(client: Client) -> None:
    response = await client.post("/v1/auth/callback", headers={HEADER: "anything"})
    assert response.status == 404
    assert await counts() == (0, 0)


async def test_a_proxy_token_creates_the_user_by_email_then_finds_it(
    proxy_client: Client, fake_oidc: FakeOidcProvider
) -> None:
    first = await proxy_client.post("/v1/auth/callback", headers={HEADER: proxy_token(fake_oidc)})
    assert first.status == 200, await first.text()
    data = (await first.json())["data"]
    user = data["session"]["user"]
    assert (user["email"], user["display_name"]) == ("nova@example.com", "Nova Reyes")
    assert data["session"]["next_step"] == "role"
    assert first.cookies["umbrella_session"].value == data["token"]
    row = await User.select(User.oauth_provider, User.oauth_id).first()
    assert row == {"oauth_provider": None, "oauth_id": None}

    again = await proxy_client.post("/v1/auth/callback", headers={HEADER: proxy_token(fake_oidc)})
    assert (await again.json())["data"]["session"]["user"]["id"] == user["id"]
    assert await counts() == (1, 2)
    session = await proxy_client.get(
        "/v1/auth/session", headers={"Authorization": f"Bearer {data['token']}"}
    )
    assert session.status == 200


async def test_a_proxy_token_signs_in_an_existing_user_with_that_email(
    proxy_client: Client, fake_oidc: FakeOidcProvider
) -> None:
    user_id = await make_user(email="nova@example.com")
    response = await proxy_client.post(
        "/v1/auth/callback", headers={HEADER: proxy_token(fake_oidc)}
    )
    assert (await response.json())["data"]["session"]["user"]["id"] == str(user_id)
    assert await counts() == (1, 1)


async def test_a_missing_proxy_header_is_unauthorized(proxy_client: Client) -> None:
    response = await proxy_client.post("/v1/auth/callback")
    assert response.status == 401
    error = await error_of(response)
    assert (error["code"], error["field"]) == ("UNAUTHORIZED", HEADER)
    assert await counts() == (0, 0)


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda fake: proxy_token(fake, aud="someone-else"), id="other-audience"),
        pytest.param(lambda fake: proxy_token(fake, iss="https://evil.example"), id="other-issuer"),
        pytest.param(lambda fake: proxy_token(fake, exp=1_000_000), id="expired"),
        pytest.param(
            lambda fake: fake.mint(fake.claims(AUDIENCE, email="x@example.com"), alg="none"),
            id="unsigned",
        ),
        pytest.param(lambda fake: "not.a.jwt", id="garbage"),
        pytest.param(lambda fake: proxy_token(fake, email=None), id="no-email"),
        pytest.param(lambda fake: proxy_token(fake, email_verified=False), id="unverified"),
    ],
)
async def test_a_bad_proxy_token_is_unauthorized_and_writes_nothing(
    proxy_client: Client, fake_oidc: FakeOidcProvider, make_token: Any
) -> None:
    response = await proxy_client.post("/v1/auth/callback", headers={HEADER: make_token(fake_oidc)})
    assert response.status == 401
    assert (await error_of(response))["field"] == HEADER
    assert await counts() == (0, 0)


async def test_the_proxy_header_name_is_configurable(
    proxy_settings: Settings, fake_oidc: FakeOidcProvider
) -> None:
    client = await start_client(
        create_app(proxy_settings.model_copy(update={"auth_proxy_header": "X-Auth-Jwt"}))
    )
    try:
        ignored = await client.post("/v1/auth/callback", headers={HEADER: proxy_token(fake_oidc)})
        assert ignored.status == 401
        assert (await error_of(ignored))["field"] == "X-Auth-Jwt"
        used = await client.post(
            "/v1/auth/callback", headers={"X-Auth-Jwt": proxy_token(fake_oidc)}
        )
        assert used.status == 200
    finally:
        await client.close()
