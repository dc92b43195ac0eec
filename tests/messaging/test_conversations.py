"""Conversations and messages as two people live them: one thread per pair, D-043, unread."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.factories import make_user
from tests.messaging.chat import (
    Client,
    artist,
    data_of,
    error_of,
    inbox,
    read,
    send,
    start,
    thread,
    venue,
)
from umbrella.artists.tables import Artist
from umbrella.messaging.tables import Conversation, InboxVersion, Message


async def test_one_conversation_per_pair_whoever_starts_it(client: Client) -> None:
    luna = await artist(client, "Luna Vega")
    anchor = await venue(client, "The Anchor")

    # The venue starts from the artist's page, which knows the artist id.
    first = await client.post(
        "/v1/conversations", json={"artist_id": str(luna.artist_id)}, headers=anchor.headers
    )
    started = await data_of(first, 201)
    assert started["other"] == {
        "user_id": str(luna.user_id),
        "role": "artist",
        "name": "Luna Vega",
        "display_name": "Test User",
        "artist_id": str(luna.artist_id),
        "stage_name": "Luna Vega",
        "avatar_url": None,
    }
    assert (started["unread_count"], started["last_message_at"]) == (0, None)

    # The other side, and the same side again, get the same conversation with 200.
    again = await start(client, luna, anchor, status=200)
    assert again["id"] == started["id"]
    assert again["other"]["name"] == "The Anchor"
    assert again["other"]["artist_id"] is None
    assert (await start(client, anchor, luna, status=200))["id"] == started["id"]
    assert await Conversation.count() == 1
    # It shows in both inboxes at once.
    assert [item["id"] for item in (await inbox(client, luna))["items"]] == [started["id"]]
    assert [item["id"] for item in (await inbox(client, anchor))["items"]] == [started["id"]]
    # The artist's avatar, as a one-hour download link.
    await Artist.update({Artist.avatar_url: f"profiles/{luna.artist_id}/avatar-1.png"}).where(
        Artist.id == luna.artist_id
    )
    avatar = (await inbox(client, anchor))["items"][0]["other"]["avatar_url"]
    assert f"profiles/{luna.artist_id}/avatar-1.png" in avatar
    assert "X-Amz-Expires=3600" in avatar


async def test_both_sides_starting_at_once_make_one_conversation(client: Client) -> None:
    a, b = await artist(client, "Ada"), await artist(client, "Bo")
    responses = await asyncio.gather(
        *(
            client.post("/v1/conversations", json={"user_id": str(y.user_id)}, headers=x.headers)
            for x, y in ((a, b), (b, a), (a, b), (b, a))
        )
    )
    assert sorted(response.status for response in responses) == [200, 200, 200, 201]
    ids = {(await response.json())["data"]["id"] for response in responses}
    assert len(ids) == 1
    assert await Conversation.count() == 1


async def test_who_can_be_talked_to(client: Client) -> None:
    luna = await artist(client)

    async def create(body: Any) -> tuple[int, str, str | None]:
        return await error_of(
            await client.post("/v1/conversations", json=body, headers=luna.headers)
        )

    assert await create({"user_id": str(luna.user_id)}) == (400, "VALIDATION_ERROR", "user_id")
    assert await create({"artist_id": str(luna.artist_id)}) == (
        400,
        "VALIDATION_ERROR",
        "artist_id",
    )
    assert await create({"user_id": str(uuid.uuid4())}) == (404, "NOT_FOUND", "user_id")
    assert await create({"artist_id": str(uuid.uuid4())}) == (404, "NOT_FOUND", "artist_id")
    other = await make_user(role="venue")
    assert await create({"user_id": str(other), "artist_id": str(luna.artist_id)}) == (
        400,
        "VALIDATION_ERROR",
        "body",
    )
    assert await create({}) == (400, "VALIDATION_ERROR", "body")
    assert await create({"user_id": "not-a-uuid"}) == (400, "VALIDATION_ERROR", "user_id")
    assert await create({"user_id": str(other), "extra": 1}) == (400, "VALIDATION_ERROR", "extra")
    assert await Conversation.count() == 0
    unauthenticated = await client.post("/v1/conversations", json={"user_id": str(other)})
    assert unauthenticated.status == 401


async def test_d043_a_message_is_1_to_2000_characters_after_trimming(client: Client) -> None:
    luna, anchor = await artist(client), await venue(client)
    conversation = await start(client, luna, anchor)
    path = f"/v1/conversations/{conversation['id']}/messages"

    for content, reason in (
        ("x" * 2001, "At most 2000 characters."),
        ("   \n\t  ", "This field must not be empty."),
        ("", "This field must not be empty."),
    ):
        response = await client.post(path, json={"content": content}, headers=luna.headers)
        assert await error_of(response) == (400, "VALIDATION_ERROR", "content")
        assert (await response.json())["error"]["message"] == reason
    for body in ({}, {"content": None}, {"content": "hi", "sender_id": str(anchor.user_id)}):
        response = await client.post(path, json=body, headers=luna.headers)
        assert (await error_of(response))[:2] == (400, "VALIDATION_ERROR")
    nul = await client.post(path, json={"content": "a\x00b"}, headers=luna.headers)
    assert await error_of(nul) == (400, "VALIDATION_ERROR", "content")
    # Nothing was written by any refusal: no message, no unread count, no new version.
    assert await Message.count() == 0
    assert (await inbox(client, anchor))["items"][0]["unread_count"] == 0

    longest = await send(client, luna, conversation["id"], "  " + "é" * 2000 + "\n")
    assert longest["content"] == "é" * 2000
    assert (longest["mine"], longest["attachment"], longest["read_at"]) == (True, None, None)
    assert await Message.count() == 1


async def test_unread_counts_previews_and_reads(client: Client) -> None:
    luna, anchor = await artist(client, "Luna Vega"), await venue(client, "The Anchor")
    conversation = await start(client, luna, anchor)
    cid = conversation["id"]
    await send(client, luna, cid, "Hi! Are you booking for March?")
    await send(client, luna, cid, "I play indie folk, " + "la " * 80)

    [theirs] = (await inbox(client, anchor))["items"]
    assert theirs["unread_count"] == 2
    assert theirs["last_message_mine"] is False
    assert theirs["last_message_preview"] == ("I play indie folk, " + "la " * 80)[:139] + "…"
    assert len(theirs["last_message_preview"]) == 140
    [mine] = (await inbox(client, luna))["items"]
    assert (mine["unread_count"], mine["last_message_mine"], mine["other_last_read_at"]) == (
        0,
        True,
        None,
    )

    marked = await read(client, anchor, cid)
    assert marked == {"conversation_id": cid, "marked_read": 2, "unread_count": 0}
    assert (await inbox(client, anchor))["items"][0]["unread_count"] == 0
    # The sender sees when it was read, and each message says so.
    seen = (await inbox(client, luna))["items"][0]["other_last_read_at"]
    assert seen is not None
    messages = (await thread(client, luna, cid))["items"]
    assert all(message["read_at"] is not None for message in messages)
    assert all(message["read_at"] <= seen for message in messages)

    # Reading again changes nothing, not even the inbox version the pollers compare.
    version = await InboxVersion.select(InboxVersion.version).where(
        InboxVersion.user_id == anchor.user_id
    )
    assert (await read(client, anchor, cid))["marked_read"] == 0
    assert (
        await InboxVersion.select(InboxVersion.version).where(
            InboxVersion.user_id == anchor.user_id
        )
        == version
    )
    # Reading only marks what was received: my own messages stay unread by the other.
    await send(client, anchor, cid, "Yes, send me your rider.")
    assert (await read(client, anchor, cid))["marked_read"] == 0
    assert (await inbox(client, luna))["items"][0]["unread_count"] == 1


async def test_concurrent_messages_both_ways_keep_every_count(client: Client) -> None:
    a, b = await artist(client, "Ada"), await artist(client, "Bo")
    cid = (await start(client, a, b))["id"]
    await asyncio.gather(
        *(send(client, who, cid, f"{index}") for index in range(10) for who in (a, b))
    )
    assert (await inbox(client, a))["items"][0]["unread_count"] == 10
    assert (await inbox(client, b))["items"][0]["unread_count"] == 10
    page = await thread(client, a, cid, limit=100)
    assert len(page["items"]) == 20
    newest = page["items"][0]
    [summary] = (await inbox(client, a))["items"]
    assert summary["last_message_at"] == newest["created_at"]
    assert summary["last_message_preview"] == newest["content"]
    assert summary["last_message_mine"] == newest["mine"]
    times = [message["created_at"] for message in page["items"]]
    assert times == sorted(times, reverse=True)
    assert len(set(times)) == 20


async def test_the_inbox_is_newest_activity_first_and_keyset_paged(client: Client) -> None:
    me = await artist(client, "Me")
    others = [await artist(client, f"Other {index}") for index in range(5)]
    ids = [(await start(client, me, other))["id"] for other in others]
    # Activity order: a message in the first makes it the newest.
    await send(client, others[0], ids[0], "bump")
    expected = [ids[0], ids[4], ids[3], ids[2], ids[1]]

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await inbox(client, me, **params)
        seen += [item["id"] for item in page["items"]]
        assert page["has_more"] is False
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert [item["other"]["name"] for item in (await inbox(client, me))["items"]][:2] == [
        "Other 0",
        "Other 4",
    ]
    bad = await client.get("/v1/conversations", params={"cursor": "forged"}, headers=me.headers)
    assert await error_of(bad) == (400, "VALIDATION_ERROR", "cursor")
    both = await client.get(
        "/v1/conversations", params={"cursor": "x", "since": "y"}, headers=me.headers
    )
    assert await error_of(both) == (400, "VALIDATION_ERROR", "cursor")
    over = await client.get("/v1/conversations", params={"limit": 101}, headers=me.headers)
    assert await error_of(over) == (400, "VALIDATION_ERROR", "limit")


async def test_the_thread_is_newest_first_with_older_messages_on_demand(client: Client) -> None:
    a, b = await artist(client, "Ada"), await artist(client, "Bo")
    cid = (await start(client, a, b))["id"]
    for index in range(25):
        await send(client, a if index % 2 else b, cid, f"message {index}")

    contents: list[str] = []
    page = await thread(client, a, cid, limit=10)
    assert page["conversation"]["id"] == cid
    assert page["conversation"]["other"]["name"] == "Bo"
    while True:
        contents += [message["content"] for message in page["items"]]
        if page["next_cursor"] is None:
            break
        page = await thread(client, a, cid, limit=10, cursor=page["next_cursor"])
    assert contents == [f"message {index}" for index in reversed(range(25))]
    mine = {
        message["content"]: message["mine"]
        for message in (await thread(client, a, cid, limit=100))["items"]
    }
    assert mine["message 1"] is True
    assert mine["message 0"] is False


async def test_only_the_two_participants_know_a_conversation_exists(client: Client) -> None:
    a, b, stranger = await artist(client, "Ada"), await artist(client, "Bo"), await venue(client)
    cid = (await start(client, a, b))["id"]
    sent = await send(client, a, cid, "private")
    message_id = sent["id"]
    unknown = str(uuid.uuid4())

    for conversation_id in (cid, unknown):
        requests = [
            client.get(f"/v1/conversations/{conversation_id}", headers=stranger.headers),
            client.post(
                f"/v1/conversations/{conversation_id}/messages",
                json={"content": "let me in"},
                headers=stranger.headers,
            ),
            client.post(f"/v1/conversations/{conversation_id}/read", headers=stranger.headers),
            client.get(
                f"/v1/conversations/{conversation_id}/messages/{message_id}/attachment",
                headers=stranger.headers,
            ),
            client.post(
                "/v1/messages/attachment",
                json={
                    "conversation_id": conversation_id,
                    "content_type": "image/png",
                    "size_bytes": 100,
                    "filename": "x.png",
                },
                headers=stranger.headers,
            ),
        ]
        for response in await asyncio.gather(*requests):
            body = await response.json()
            # The same answer whether it exists or not: nothing to learn from it.
            assert response.status == 404, body
            assert body["error"] == {
                "code": "NOT_FOUND",
                "message": "No such conversation.",
                "field": "conversation_id",
            }
    assert (await inbox(client, stranger))["items"] == []
    assert await Message.count() == 1
    assert (await inbox(client, b))["items"][0]["unread_count"] == 1
