"""People, conversations and messages for messaging tests, made through the API."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from tests.conftest import Servers
from tests.factories import bearer_for, make_artist, make_user
from umbrella.accounts.tables import User
from umbrella.messaging.cache import LINK_WINDOW_SECONDS
from umbrella.notifications.tables import Notification

Client = TestClient[web.Request, web.Application]


@dataclass
class Person:
    user_id: UUID
    headers: dict[str, str]
    email: str
    artist_id: UUID | None = None


async def artist(client: Client, stage_name: str = "Luna Vega", **user: Any) -> Person:
    user_id = await make_user(role="artist", onboarding_complete=True, **user)
    _, artist_id = await make_artist(user_id=user_id, stage_name=stage_name)
    return await _person(client, user_id, artist_id)


async def venue(client: Client, name: str = "The Anchor", **user: Any) -> Person:
    user_id = await make_user(role="venue", onboarding_complete=True, **user)
    await User.update({User.display_name: name}).where(User.id == user_id)
    return await _person(client, user_id, None)


async def _person(client: Client, user_id: UUID, artist_id: UUID | None) -> Person:
    row = await User.select(User.email).where(User.id == user_id).first()
    assert row is not None
    return Person(
        user_id=user_id,
        headers=await bearer_for(client.app, user_id),
        email=str(row["email"]),
        artist_id=artist_id,
    )


async def data_of(response: ClientResponse, status: int = 200) -> Any:
    body = await response.json()
    assert response.status == status, body
    return body["data"]


async def error_of(response: ClientResponse) -> tuple[int, str, str | None]:
    body = await response.json()
    assert body["success"] is False, body
    return response.status, body["error"]["code"], body["error"].get("field")


async def start(client: Client, me: Person, other: Person, *, status: int = 201) -> Any:
    """The conversation `me` starts with `other` (by user id)."""
    response = await client.post(
        "/v1/conversations", json={"user_id": str(other.user_id)}, headers=me.headers
    )
    return await data_of(response, status)


async def send(client: Client, me: Person, conversation_id: Any, content: str, **more: Any) -> Any:
    response = await client.post(
        f"/v1/conversations/{conversation_id}/messages",
        json={"content": content, **more},
        headers=me.headers,
    )
    return await data_of(response, 201)


async def inbox(client: Client, me: Person, **params: Any) -> Any:
    response = await client.get("/v1/conversations", params=params, headers=me.headers)
    return await data_of(response)


async def thread(client: Client, me: Person, conversation_id: Any, **params: Any) -> Any:
    response = await client.get(
        f"/v1/conversations/{conversation_id}", params=params, headers=me.headers
    )
    return await data_of(response)


async def read(client: Client, me: Person, conversation_id: Any) -> Any:
    response = await client.post(f"/v1/conversations/{conversation_id}/read", headers=me.headers)
    return await data_of(response)


async def message_emails(user_id: UUID) -> list[dict[str, Any]]:
    """The "New message from …" notifications queued for a user (email is their only channel)."""
    rows = (
        await Notification.select(Notification.payload, Notification.recipient)
        .where((Notification.user_id == user_id) & (Notification.kind == "message"))
        .order_by(Notification.created_at)
    )
    return [{**row, "payload": json.loads(row["payload"])} for row in rows]


@asynccontextmanager
async def postgres_refusing(servers: Servers, database_url: str) -> AsyncIterator[None]:
    """This test's database refuses connections and its open ones are cut: any query fails."""
    name = urlsplit(database_url).path.lstrip("/")
    admin = await asyncpg.connect(servers.postgres_url)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        yield
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        await admin.close()


async def clear_of_an_etag_window_edge(margin_seconds: float = 45.0) -> None:
    """Wait out the end of the inbox ETag's link window if it is less than `margin` away.

    The ETag changes every LINK_WINDOW_SECONDS (so a cached list never holds expired avatar
    links): a test that expects a 304 across a :00 or :30 boundary would see a 200.
    """
    left = LINK_WINDOW_SECONDS - time.time() % LINK_WINDOW_SECONDS
    if left < margin_seconds:
        await asyncio.sleep(left + 0.5)
