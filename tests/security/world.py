"""The people and resources of the authorization matrix, made the way the product makes them.

One `World` is built per test module: an artist and a venue who know each other (an
application, a conversation, a booked gig) and two strangers, one of each role. Rows that
change or destroy their resource build a fresh `Scene` per test instead, so the order the
rows run in never matters.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.broadcasts.audience import add_contacts
from tests.broadcasts.audience import make_list as insert_list
from tests.factories import bearer_for, make_artist, make_user
from tests.gigs.marketplace import gig_body, in_days, insert_gig
from tests.studio.helpers import make_file
from tests.uploads import PNG, post_form
from umbrella.accounts.tables import User
from umbrella.broadcasts.tables import BroadcastDelivery
from umbrella.gigs.tables import GigApplication

Client = TestClient[web.Request, web.Application]

# Strings only the owner (and the other party, where there is one) may ever read.
PRIVATE_EMAIL = "luna.private.7f3a@example.com"
PRIVATE_PHONE = "+15125550177"
PRIVATE_LEGAL_NAME = "Lunaria Privatissima"
SECRET_MESSAGE = "secret-message-5d1c: the door code is 4471"
SECRET_ATTACHMENT = "secret-setlist-9b2e.png"
SECRET_FILENAME = "secret-contract-3a8f.pdf"
SECRET_FOLDER = "Secret Folder c41d"
SECRET_LIST = "Secret List e07b"
SECRET_FAN_EMAIL = "fan0@example.com"
SECRET_JOURNAL = "Secret Journal 2c9e"
SECRET_GOAL = "Secret Goal 6d0f"
SECRET_APPLICATION = "secret-application-8a1b: call me at home"
SECRET_BROADCAST = "Secret Broadcast 91fa"
PROFILE_SECRETS = (PRIVATE_EMAIL, PRIVATE_PHONE, PRIVATE_LEGAL_NAME)


@dataclass(frozen=True)
class Person:
    """A signed-in user: a real session opened as sign-in opens it."""

    name: str
    user_id: UUID
    headers: dict[str, str]
    artist_id: UUID | None = None


# Who calls without a session: no headers at all.
ANONYMOUS = Person("anonymous", uuid.UUID(int=0), {})


@dataclass
class Scene:
    """The ids a row's path needs, who plays each role, and what a stranger must never read."""

    ids: dict[str, str]
    owner: Person
    stranger: Person
    other: Person | None = None
    secrets: tuple[str, ...] = ()
    # False: the "other" user has no part in the resource either (a second stranger).
    other_is_party: bool = True


@dataclass
class World:
    client: Client
    artist: Person
    venue: Person
    stranger_artist: Person
    stranger_venue: Person
    ids: dict[str, str] = field(default_factory=dict)
    counter: int = 0

    def next(self) -> int:
        self.counter += 1
        return self.counter


async def data_of(response: aiohttp.ClientResponse, status: int) -> Any:
    assert response.status == status, await response.text()
    return (await response.json())["data"]


async def artist_person(
    client: Client, name: str, profile: dict[str, Any] | None = None, **user: Any
) -> Person:
    user_id = await make_user(role="artist", onboarding_complete=True, **user)
    _, artist_id = await make_artist(user_id=user_id, stage_name=name, **(profile or {}))
    return Person(name, user_id, await bearer_for(client.app, user_id), artist_id)


async def venue_person(client: Client, name: str) -> Person:
    user_id = await make_user(role="venue", onboarding_complete=True, phone="+15125550100")
    await User.update({User.display_name: name}).where(User.id == user_id)
    return Person(name, user_id, await bearer_for(client.app, user_id))


# -- resources, each made through the API where the API makes it -------------------------------


async def post(client: Client, who: Person, path: str, body: Any, status: int = 201) -> Any:
    return await data_of(await client.post(path, json=body, headers=who.headers), status)


async def timeline_entry(world: World) -> str:
    body = {"entry_type": "milestone", "occurred_on": "2024-05-01", "title": "First headline"}
    return str((await post(world.client, world.artist, "/v1/profile/timeline", body))["id"])


async def track(world: World) -> str:
    body = {
        "title": "Night Drive",
        "spotify_url": "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC",
    }
    return str((await post(world.client, world.artist, "/v1/profile/tracks", body))["id"])


async def open_gig(world: World, owner: Person | None = None) -> str:
    # Distinct dates: an artist booked twice on one evening would be refused as an overlap.
    body = gig_body(date=in_days(10 + world.next()).isoformat())
    return str((await post(world.client, owner or world.venue, "/v1/gigs", body))["id"])


async def apply(world: World, gig_id: str, who: Person, message: str | None = None) -> str:
    body = {"message": message} if message else None
    response = await world.client.post(f"/v1/gigs/{gig_id}/apply", json=body, headers=who.headers)
    return str((await data_of(response, 201))["id"])


async def played_gig(world: World, *, completed: bool) -> str:
    """A gig of the venue from yesterday with the artist booked (completed or not yet)."""
    assert world.artist.artist_id is not None
    now = datetime.now(UTC)
    gig_id = await insert_gig(
        world.venue.user_id,
        date=now.date() - timedelta(days=1),
        filled_slots=1,
        status="completed" if completed else "filled",
        completed_at=now if completed else None,
    )
    await GigApplication.insert(
        GigApplication(
            gig_id=gig_id,
            artist_id=world.artist.artist_id,
            status="accepted",
            applied_at=now,
            responded_at=now,
            updated_at=now,
        )
    )
    return str(gig_id)


async def folder(world: World, name: str | None = None) -> str:
    body = {"name": name or f"Folder {uuid.uuid4().hex[:8]}"}
    return str((await post(world.client, world.artist, "/v1/files/folders", body))["id"])


async def stored_file(
    world: World, filename: str = "take", owner: Person | None = None, mime: str = "application/pdf"
) -> str:
    artist_id = (owner or world.artist).artist_id
    assert artist_id is not None
    file_id = await make_file(
        artist_id,
        mime,
        filename=filename,
        body=PNG if mime == "image/png" else b"%PDF-1.7\n" + bytes(64),
        client=world.client,
    )
    return str(file_id)


async def contact_list(world: World, name: str | None = None) -> str:
    body = {"name": name or f"List {uuid.uuid4().hex[:8]}"}
    return str((await post(world.client, world.artist, "/v1/contacts/lists", body))["id"])


async def first_member(list_id: str) -> str:
    rows = await BroadcastDelivery.raw(
        "SELECT id FROM contact_list_members WHERE list_id = {} ORDER BY created_at LIMIT 1",
        UUID(list_id),
    )
    return str(rows[0]["id"])


async def scheduled_broadcast(world: World) -> str:
    assert world.artist.artist_id is not None
    list_id = await insert_list(world.artist.artist_id, name=f"Audience {world.next()}")
    await add_contacts(list_id, range(0, 2))
    body = {
        "list_ids": [str(list_id)],
        "channels": "email",
        "subject": SECRET_BROADCAST,
        "body": "Out Friday.",
        "send_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat(),
    }
    return str((await post(world.client, world.artist, "/v1/broadcast", body))["id"])


async def journal_entry(world: World, title: str = "Session notes") -> str:
    return str((await post(world.client, world.artist, "/v1/journal", {"title": title}))["id"])


async def goal(world: World, title: str = "Play 20 shows") -> str:
    body = {"title": title, "goal_type": "custom", "target_value": "20"}
    return str((await post(world.client, world.artist, "/v1/analytics/goals", body))["id"])


async def conversation_with_attachment(world: World) -> tuple[str, str]:
    """The artist's conversation with the venue: a secret message and a message with a file."""
    client, artist = world.client, world.artist
    started = await post(client, artist, "/v1/conversations", {"user_id": str(world.venue.user_id)})
    conversation_id = str(started["id"])
    await post(
        client, artist, f"/v1/conversations/{conversation_id}/messages", {"content": SECRET_MESSAGE}
    )
    ticket = await post(
        client,
        artist,
        "/v1/messages/attachment",
        {
            "conversation_id": conversation_id,
            "content_type": "image/png",
            "size_bytes": len(PNG),
            "filename": SECRET_ATTACHMENT,
        },
    )
    status, text = await post_form(ticket["url"], ticket["fields"], PNG)
    assert status in (200, 201, 204), text
    sent = await post(
        client,
        artist,
        f"/v1/conversations/{conversation_id}/messages",
        {"content": "The setlist", "upload_id": ticket["upload_id"]},
    )
    return conversation_id, str(sent["id"])


async def build_world(client: Client) -> World:
    """Everyone, and one of each shared resource."""
    world = World(
        client=client,
        artist=await artist_person(
            client,
            "Luna Vega",
            {"legal_name": PRIVATE_LEGAL_NAME},
            email=PRIVATE_EMAIL,
            phone=PRIVATE_PHONE,
        ),
        venue=await venue_person(client, "The Anchor"),
        stranger_artist=await artist_person(client, "Stranger Artist"),
        stranger_venue=await venue_person(client, "Stranger Venue"),
    )
    ids = world.ids
    ids["artist_id"] = str(world.artist.artist_id)
    ids["venue_user_id"] = str(world.venue.user_id)
    ids["entry_id"] = await timeline_entry(world)
    ids["track_id"] = await track(world)
    ids["gig_id"] = await open_gig(world)
    ids["application_id"] = await apply(world, ids["gig_id"], world.artist, SECRET_APPLICATION)
    ids["conversation_id"], ids["message_id"] = await conversation_with_attachment(world)
    ids["folder_id"] = await folder(world, SECRET_FOLDER)
    ids["file_id"] = await stored_file(world, SECRET_FILENAME)
    ids["image_file_id"] = await stored_file(world, "press-shot", mime="image/png")
    ids["list_id"] = await contact_list(world, SECRET_LIST)
    await add_contacts(UUID(ids["list_id"]), range(0, 2))
    ids["member_id"] = await first_member(ids["list_id"])
    ids["journal_entry_id"] = await journal_entry(world, SECRET_JOURNAL)
    ids["goal_id"] = await goal(world, SECRET_GOAL)
    # The stranger's own resources, for the rows that pair a parent of theirs with our child.
    stranger_gig = await open_gig(world, world.stranger_venue)
    ids["stranger_gig_id"] = stranger_gig
    started = await post(
        client,
        world.stranger_artist,
        "/v1/conversations",
        {"user_id": str(world.stranger_venue.user_id)},
    )
    ids["stranger_conversation_id"] = str(started["id"])
    assert world.stranger_artist.artist_id is not None
    ids["stranger_list_id"] = str(await insert_list(world.stranger_artist.artist_id, "Theirs"))
    return world
