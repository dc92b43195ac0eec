"""Artists, gigs and counters for Violet tests, written the way the product writes them."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from tests.factories import bearer_for, make_artist, make_user
from umbrella.violet.service import counter_key
from umbrella.violet.tables import VioletUsage

Client = TestClient[web.Request, web.Application]

LIMIT_MESSAGE = "You've used all 50 Violet prompts for today. Limit resets at midnight UTC."
UNAVAILABLE = "Violet is temporarily unavailable. Try again in a few minutes."


def today() -> date:
    return datetime.now(UTC).date()


def seconds_to_midnight() -> float:
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), time(), tzinfo=UTC)
    return (midnight - now).total_seconds()


async def signed_in_artist(client: Client, **fields: Any) -> tuple[UUID, dict[str, str]]:
    """(artist id, headers) of a new artist who finished onboarding."""
    user_id, artist_id = await make_artist(**fields)
    return artist_id, await bearer_for(client.app, user_id)


async def use_prompts(artist_id: UUID, count: int, *, on: date | None = None) -> None:
    """`count` answered prompts already logged for the day (Postgres only, as after an outage)."""
    await VioletUsage.raw(
        "INSERT INTO violet_usage (artist_id, usage_date, feature, prompt, status)"
        " SELECT {}, {}, 'career_advice', 'earlier prompt', 'succeeded'"
        " FROM generate_series(1, {})",
        artist_id,
        on or today(),
        count,
    )


async def logged(artist_id: UUID) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await VioletUsage.raw(
        "SELECT * FROM violet_usage WHERE artist_id = {} ORDER BY created_at", artist_id
    )
    return rows


async def counter(redis: Redis, artist_id: UUID) -> int | None:
    raw = await redis.get(counter_key(artist_id, today()))
    return None if raw is None else int(raw)


async def completed_gig(
    artist_id: UUID, *, title: str, venue_name: str, city: str, state: str, on: date, paid: str
) -> None:
    """A gig the artist played: accepted, completed, with the earnings reported (D-080)."""
    venue_id = await make_user(role="venue", onboarding_complete=True)
    rows = await VioletUsage.raw(
        "INSERT INTO gigs (venue_id, title, venue_name, city, state, date, payment_amount,"
        " capacity, filled_slots, status, completed_at)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, 1, 1, 'completed', now()) RETURNING id",
        venue_id,
        title,
        venue_name,
        city,
        state,
        on,
        Decimal(paid),
    )
    await VioletUsage.raw(
        "INSERT INTO gig_applications (gig_id, artist_id, status, responded_at, earned_amount)"
        " VALUES ({}, {}, 'accepted', now(), {})",
        rows[0]["id"],
        artist_id,
        Decimal(paid),
    )


async def open_gig(**fields: Any) -> UUID:
    venue_id = await make_user(role="venue", onboarding_complete=True)
    values: dict[str, Any] = {
        "title": "Friday Night Live",
        "venue_name": "The Anchor",
        "city": "Austin",
        "state": "TX",
        "date": today() + timedelta(days=10),
        "start_time": time(21, 0),
        "payment_amount": Decimal("250.00"),
        "genre": "indie",
    }
    values.update(fields)
    rows = await VioletUsage.raw(
        "INSERT INTO gigs (venue_id, title, venue_name, city, state, date, start_time,"
        " payment_amount, genre) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}) RETURNING id",
        venue_id,
        *values.values(),
    )
    gig_id: UUID = rows[0]["id"]
    return gig_id
