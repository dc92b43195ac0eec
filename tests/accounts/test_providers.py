"""The web app asks which sign-in providers are on, to show one button each."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.accounts.conftest import client_for
from tests.accounts.flows import start
from tests.fakes.oidc import FakeOidcProvider, google_only
from umbrella.config import Settings

Client = TestClient[web.Request, web.Application]


async def providers_of(client: Client) -> list[dict[str, Any]]:
    response = await client.get("/v1/auth/providers")
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["success"] is True
    providers: list[dict[str, Any]] = body["data"]["providers"]
    return providers


async def test_both_providers_are_listed_with_absolute_login_links(
    oidc_settings: Settings,
) -> None:
    client = await client_for(
        oidc_settings.model_copy(update={"public_base_url": "https://api.umbrella.example"})
    )
    try:
        response = await client.get("/v1/auth/providers")
        # no session needed; nothing personal in it, so any cache may keep it a minute
        assert response.status == 200
        assert response.headers["Cache-Control"] == "public, max-age=60"
        assert (await response.json())["data"]["providers"] == [
            {
                "id": "google",
                "name": "Google",
                "login_url": "https://api.umbrella.example/v1/auth/login/google",
            },
            {
                "id": "apple",
                "name": "Apple",
                "login_url": "https://api.umbrella.example/v1/auth/login/apple",
            },
        ]
    finally:
        await client.close()


async def test_only_configured_providers_are_listed_and_their_links_work(
    settings: Settings, fake_oidc: FakeOidcProvider
) -> None:
    client = await client_for(google_only(settings, fake_oidc))
    try:
        providers = await providers_of(client)
        assert [provider["id"] for provider in providers] == ["google"]
        # the link is the login route itself: it starts the sign-in
        path = providers[0]["login_url"].removeprefix(settings.public_base_url)
        assert path == "/v1/auth/login/google"
        assert (await start(client, "google")).startswith(fake_oidc.url)
    finally:
        await client.close()


async def test_with_no_provider_configured_the_list_is_empty(settings: Settings) -> None:
    client = await client_for(settings)
    try:
        assert await providers_of(client) == []
    finally:
        await client.close()


async def test_the_list_is_not_counted_against_the_sign_in_limit(client: Client) -> None:
    for _ in range(12):
        assert (await client.get("/v1/auth/providers")).status == 200


async def test_the_openapi_document_describes_the_list(client: Client) -> None:
    document = await (await client.get("/v1/openapi.json")).json()
    operation = document["paths"]["/v1/auth/providers"]["get"]
    assert operation["tags"] == ["auth"]
    schemas = document["components"]["schemas"]
    provider = schemas["ProviderOut"]["properties"]
    assert provider["id"]["enum"] == ["google", "apple"]
    assert set(schemas["ProviderOut"]["required"]) == {"id", "name", "login_url"}
