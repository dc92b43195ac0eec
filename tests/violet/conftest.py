"""Violet's tests run the API with its model at the local Anthropic fake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.conftest import start_client
from umbrella.app import create_app
from umbrella.config import Settings


@pytest.fixture
async def client(
    anthropic_settings: Settings,
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """The API with Violet's model at the fake Anthropic."""
    test_client = await start_client(create_app(anthropic_settings))
    yield test_client
    await test_client.close()
