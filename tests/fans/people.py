"""Artists, lists, members and sent broadcasts for the contacts tests, made as the product does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.factories import bearer_for, make_artist
from umbrella.broadcasts.tables import BroadcastDelivery, BroadcastMessage
from umbrella.fans.tables import FanSuppression

Client = TestClient[web.Request, web.Application]

CSV_HEADER = "email,phone,name,email_opt_in,sms_opt_in,timezone,city\n"


async def artist_session(
    client: Client, stage_name: str = "Luna Vega"
) -> tuple[UUID, dict[str, str]]:
    user_id, artist_id = await make_artist(stage_name=stage_name)
    return artist_id, await bearer_for(client.app, user_id)


async def data_of(response: aiohttp.ClientResponse, status: int = 200) -> Any:
    assert response.status == status, await response.text()
    return (await response.json())["data"]


async def error_of(response: aiohttp.ClientResponse, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    error: dict[str, Any] = (await response.json())["error"]
    return error


async def make_list(client: Client, headers: dict[str, str], name: str = "Newsletter") -> str:
    made = await data_of(
        await client.post("/v1/contacts/lists", json={"name": name}, headers=headers), 201
    )
    list_id: str = made["id"]
    return list_id


async def import_csv(
    client: Client, headers: dict[str, str], text: str, **query: str
) -> aiohttp.ClientResponse:
    return await client.post(
        "/v1/contacts/import",
        data=text.encode(),
        params=query,
        headers={**headers, "Content-Type": "text/csv"},
    )


async def members(client: Client, headers: dict[str, str], list_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = "?limit=100" + (f"&cursor={cursor}" if cursor else "")
        page = await data_of(
            await client.get(f"/v1/contacts/lists/{list_id}/members{query}", headers=headers)
        )
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def sent_delivery(
    artist_id: UUID,
    *,
    channel: str,
    address: str,
    member_id: UUID | str | None = None,
    provider_message_id: str | None = None,
) -> UUID:
    """A delivery of a sent broadcast of the artist's, as the delivery engine leaves it."""
    now = datetime.now(UTC)
    broadcast_id, delivery_id = uuid.uuid4(), uuid.uuid4()
    await BroadcastMessage.insert(
        BroadcastMessage(
            id=broadcast_id,
            artist_id=artist_id,
            subject="New single out Friday",
            body="It is out Friday.",
            channels=channel,
            status="sent",
            sent_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    await BroadcastDelivery.insert(
        BroadcastDelivery(
            id=delivery_id,
            broadcast_id=broadcast_id,
            member_id=UUID(str(member_id)) if member_id else None,
            channel=channel,
            address=address,
            status="sent",
            provider_message_id=provider_message_id,
            sent_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    return delivery_id


async def suppressions(artist_id: UUID | None = None) -> set[tuple[str, str, str]]:
    """(channel, address, reason) of an artist's suppressions (everyone's without one)."""
    query = FanSuppression.select(
        FanSuppression.artist_id,
        FanSuppression.channel,
        FanSuppression.address,
        FanSuppression.reason,
    )
    if artist_id is not None:
        query = query.where(FanSuppression.artist_id == artist_id)
    return {(row["channel"], row["address"], row["reason"]) for row in await query}
