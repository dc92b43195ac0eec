"""The API of a sign-in test: Google and Apple sign-in at the fake provider."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.conftest import start_client
from umbrella.app import create_app
from umbrella.config import Settings

Client = TestClient[web.Request, web.Application]


async def client_for(settings: Settings) -> Client:
    return await start_client(create_app(settings))


@pytest.fixture
async def client(oidc_settings: Settings) -> AsyncIterator[Client]:
    """The API with Google and Apple sign-in at the fake provider."""
    test_client = await client_for(oidc_settings)
    yield test_client
    await test_client.close()
