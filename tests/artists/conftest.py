"""Shared pieces of the artists tests: a signed-in client, onboarding answers, row readers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from tests.factories import bearer_for, make_artist, make_user
from umbrella.accounts.tables import User
from umbrella.artists.tables import Artist

Client = TestClient[web.Request, web.Application]

STEP1: dict[str, Any] = {
    "stage_name": "Luna Vega",
    "legal_name": "Luna María Vega",
    "pronouns": "she/her",
    "city": "Austin",
    "state": "TX",
    "country": "US",
}
STEP2: dict[str, Any] = {
    "bio": "Dream-pop singer-songwriter from Austin.",
    "story": "Started busking on South Congress at fifteen.",
    "tagline": "Dream pop for late nights",
}
STEP3: dict[str, Any] = {
    "primary_genre": "indie",
    "secondary_genres": ["pop", "folk"],
    "influences": ["Mazzy Star", "Beach House"],
    "performance_types": ["solo", "band"],
    "equipment": ["Telecaster", "Juno-60"],
    "daw": "Ableton Live",
    "platforms": ["spotify", "bandcamp"],
}
STEP4: dict[str, Any] = {
    "flat_rate": 400,
    "hourly_rate": "120.50",
    "rates_negotiable": True,
    "travel_radius_miles": 150,
    "available_weekdays": False,
    "available_weekends": True,
    "advance_booking_weeks": 3,
}
STEP5: dict[str, Any] = {
    "years_performing": 6,
    "biggest_gig": "SXSW showcase, 2024",
    "dream_collaboration": "Phoebe Bridgers",
    "makes_music": True,
    "confident_online": False,
    "struggles_niche": True,
    "knows_gig_sources": False,
    "paid_fairly": False,
    "understands_royalties": False,
}
STEPS = {1: STEP1, 2: STEP2, 3: STEP3, 4: STEP4, 5: STEP5}


@dataclass
class Person:
    """A signed-in user of the test's app."""

    user_id: UUID
    headers: dict[str, str]


@dataclass
class SignedInArtist(Person):
    artist_id: UUID


async def new_user(client: Client, **user_fields: Any) -> Person:
    user_id = await make_user(**user_fields)
    return Person(user_id=user_id, headers=await bearer_for(client.app, user_id))


async def new_artist(client: Client, **artist_fields: Any) -> SignedInArtist:
    """An artist who finished onboarding, signed in."""
    user_id, artist_id = await make_artist(**artist_fields)
    headers = await bearer_for(client.app, user_id)
    return SignedInArtist(user_id=user_id, headers=headers, artist_id=artist_id)


async def submit_step(
    client: Client, person: Person, step: int, body: dict[str, Any] | None = None
) -> ClientResponse:
    return await client.post(
        f"/v1/onboarding/artists/step{step}",
        json=STEPS[step] if body is None else body,
        headers=person.headers,
    )


async def user_row(user_id: UUID) -> dict[str, Any]:
    row = await User.select().where(User.id == user_id).first()
    assert row is not None
    return row


async def artist_rows(user_id: UUID) -> list[dict[str, Any]]:
    return await Artist.select().where(Artist.user_id == user_id)


async def artist_row(artist_id: UUID) -> dict[str, Any]:
    row = await Artist.select().where(Artist.id == artist_id).first()
    assert row is not None
    return row


async def error_of(response: Any) -> dict[str, Any]:
    body = await response.json()
    assert body["success"] is False, body
    error: dict[str, Any] = body["error"]
    return error


async def data_of(response: Any, status: int = 200) -> Any:
    body = await response.json()
    assert response.status == status, body
    return body["data"]


@pytest.fixture
async def person(client: Client) -> Person:
    """A signed-in user who has not onboarded yet."""
    return await new_user(client)
