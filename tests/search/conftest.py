"""Fixtures of the search tests."""

from __future__ import annotations

import pytest

from tests.factories import bearer_for, make_user
from tests.search.world import Client


@pytest.fixture
async def signed_in(client: Client) -> dict[str, str]:
    """Headers of a signed-in user who is neither artist nor venue of the test's data."""
    return await bearer_for(client.app, await make_user(onboarding_complete=True))
