"""Venues, artists and gigs for marketplace tests, made the way the product makes them."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.factories import bearer_for, make_artist, make_user
from umbrella.accounts.tables import User
from umbrella.gigs.tables import Gig
from umbrella.notifications.tables import Notification

Client = TestClient[web.Request, web.Application]


def in_days(days: int) -> date:
    return datetime.now(UTC).date() + timedelta(days=days)


def gig_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Friday Night Live",
        "description": "Indie night in the back room.",
        "city": "Austin",
        "state": "TX",
        "date": in_days(10).isoformat(),
        "start_time": "21:00",
        "end_time": "23:30",
        "genre": "indie",
        "payment_amount": "250.00",
        "payment_type": "flat",
        "capacity": 2,
    }
    body.update(overrides)
    return body


@dataclass
class Person:
    user_id: UUID
    headers: dict[str, str]
    artist_id: UUID | None = None


async def venue(client: Client, name: str = "The Anchor", email: str | None = None) -> Person:
    user_id = await make_user(
        role="venue", onboarding_complete=True, email=email, phone="+15125550100"
    )
    await User.update({User.display_name: name}).where(User.id == user_id)
    return Person(user_id=user_id, headers=await bearer_for(client.app, user_id))


async def artist(
    client: Client, stage_name: str = "Luna Vega", email: str | None = None, **fields: Any
) -> Person:
    user_id = await make_user(
        role="artist",
        onboarding_complete=True,
        email=email,
        phone=f"+1512555{uuid.uuid4().int % 10_000:04d}",
    )
    _, artist_id = await make_artist(user_id=user_id, stage_name=stage_name, **fields)
    return Person(
        user_id=user_id, headers=await bearer_for(client.app, user_id), artist_id=artist_id
    )


async def post_gig(client: Client, owner: Person, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/v1/gigs", json=gig_body(**overrides), headers=owner.headers)
    assert response.status == 201, await response.text()
    data: dict[str, Any] = (await response.json())["data"]
    return data


async def insert_gig(venue_id: UUID, **columns: Any) -> UUID:
    """A gig written straight to the table: for dates the API refuses (the past) and bulk."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "venue_id": venue_id,
        "title": "Saturday Session",
        "venue_name": "The Anchor",
        "city": "Austin",
        "state": "TX",
        "date": in_days(5),
        "genre": "indie",
        "payment_amount": Decimal("200.00"),
        "payment_type": "flat",
        "capacity": 1,
        "created_at": now,
        "updated_at": now,
    }
    values.update(columns)
    await Gig.insert(Gig(**values))
    return UUID(str(values["id"]))


async def apply(client: Client, gig_id: Any, person: Person, **body: Any) -> Any:
    response = await client.post(
        f"/v1/gigs/{gig_id}/apply", json=body or None, headers=person.headers
    )
    return response


async def decide(client: Client, gig_id: Any, application_id: Any, owner: Person, verb: str) -> Any:
    return await client.post(
        f"/v1/gigs/{gig_id}/applications/{application_id}/{verb}", headers=owner.headers
    )


async def notifications_of(user_id: UUID, kind: str | None = None) -> list[dict[str, Any]]:
    query = Notification.select(
        Notification.kind, Notification.channel, Notification.recipient, Notification.payload
    ).where(Notification.user_id == user_id)
    if kind is not None:
        query = query.where(Notification.kind == kind)
    rows: list[dict[str, Any]] = await query.order_by(Notification.created_at)
    return [{**row, "payload": json.loads(row["payload"])} for row in rows]


async def error_of(response: Any) -> tuple[int, str, str | None]:
    body = await response.json()
    return response.status, body["error"]["code"], body["error"].get("field")
