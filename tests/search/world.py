"""What the search tests need: artists, gigs as a venue posts them, and reading responses."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from tests.factories import make_artist, make_user
from umbrella.gigs.tables import Gig

Client = TestClient[web.Request, web.Application]


async def artist(stage_name: str, **fields: Any) -> UUID:
    """An artist who finished onboarding; `fields` set profile columns."""
    _, artist_id = await make_artist(stage_name=stage_name, **fields)
    return artist_id


async def unfinished_artist(stage_name: str, **fields: Any) -> UUID:
    """An artist still in onboarding: not public, so never listed or found."""
    user_id = await make_user(role="artist", onboarding_complete=False)
    _, artist_id = await make_artist(user_id=user_id, stage_name=stage_name, **fields)
    return artist_id


async def venue() -> UUID:
    return await make_user(role="venue", onboarding_complete=True)


async def gig(
    venue_id: UUID,
    title: str,
    *,
    description: str | None = None,
    venue_name: str = "The Anchor",
    city: str = "Austin",
    state: str = "TX",
    genre: str | None = None,
    days_ahead: int = 10,
    status: str = "open",
) -> UUID:
    """A gig as the gigs domain stores it (only the columns a search reads)."""
    when = date.today() + timedelta(days=days_ahead)
    now = datetime.now(UTC)
    rows = await Gig.raw(
        "INSERT INTO gigs (venue_id, title, description, venue_name, city, state, date, genre,"
        " payment_amount, capacity, filled_slots, status, completed_at, cancelled_at)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, 2, {}, {}, {}, {}) RETURNING id",
        venue_id,
        title,
        description,
        venue_name,
        city,
        state,
        when,
        genre,
        Decimal("250.00"),
        2 if status == "filled" else 0,
        status,
        now if status == "completed" else None,
        now if status == "cancelled" else None,
    )
    gig_id: UUID = rows[0]["id"]
    return gig_id


async def data_of(response: ClientResponse, status: int = 200) -> Any:
    body = await response.json()
    assert response.status == status, body
    assert body["success"] is True
    return body["data"]


async def error_of(response: ClientResponse, status: int) -> dict[str, Any]:
    body = await response.json()
    assert response.status == status, body
    assert body["success"] is False
    error: dict[str, Any] = body["error"]
    return error


def names(page: dict[str, Any]) -> list[str]:
    """Stage names and gig titles of a search page, in order."""
    return [
        hit["artist"]["stage_name"] if hit["type"] == "artist" else hit["gig"]["title"]
        for hit in page["items"]
    ]
