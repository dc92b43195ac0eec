""" "New message from …": one email per conversation while unread, at most one per 15 minutes."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.messaging.chat import (
    Client,
    artist,
    error_of,
    message_emails,
    read,
    send,
    start,
    venue,
)
from umbrella.config import Settings
from umbrella.messaging.tables import Conversation


async def earlier(conversation_id: Any, minutes: int) -> None:
    """Let time pass for the throttle: the last emails of this conversation were sent earlier."""
    shift = timedelta(minutes=minutes)
    await Conversation.raw(
        "UPDATE conversations SET notified_at_1 = notified_at_1 - {}::interval,"
        " notified_at_2 = notified_at_2 - {}::interval WHERE id = {}",
        shift,
        shift,
        conversation_id,
    )


async def test_several_messages_make_one_email_until_read_and_15_minutes_passed(
    client: Client, settings: Settings
) -> None:
    luna = await artist(client, "Luna Vega")
    anchor = await venue(client, "The Anchor")
    cid = (await start(client, luna, anchor))["id"]
    assert await message_emails(anchor.user_id) == []  # starting one sends nothing

    for text in ("Hi!", "Are you booking for March?", "I can send my rider."):
        await send(client, luna, cid, text)
    [email] = await message_emails(anchor.user_id)
    assert email["recipient"] == anchor.email
    assert email["payload"] == {
        "sender_name": "Luna Vega",
        "conversation_url": f"{settings.app_url.rstrip('/')}/messages/{cid}",
    }
    # The other way is its own conversation side: the venue's reply emails the artist once.
    await send(client, anchor, cid, "Hello Luna")
    await send(client, anchor, cid, "Yes, March works")
    [to_luna] = await message_emails(luna.user_id)
    assert to_luna["payload"]["sender_name"] == "The Anchor"

    # 15 minutes later, still unread: no second email about the same unread messages.
    await earlier(cid, 16)
    await send(client, luna, cid, "Did you see my messages?")
    assert len(await message_emails(anchor.user_id)) == 1
    # Read, and the last email is over 15 minutes old: the next message emails again.
    await read(client, anchor, cid)
    await send(client, luna, cid, "Great, talk soon")
    assert len(await message_emails(anchor.user_id)) == 2
    # Read since, but the last email is minutes old: none.
    await read(client, anchor, cid)
    await send(client, luna, cid, "One more thing")
    assert len(await message_emails(anchor.user_id)) == 2
    # Until 15 minutes have passed since it.
    await read(client, anchor, cid)
    await earlier(cid, 16)
    await send(client, luna, cid, "And another")
    assert len(await message_emails(anchor.user_id)) == 3
    # Durable: the throttle is in Postgres, not in a cache that could forget it.
    row = await Conversation.select(Conversation.notified_at_1, Conversation.notified_at_2).where(
        Conversation.id == cid
    )
    assert all(value is not None for value in row[0].values())


async def test_the_throttle_is_per_conversation(client: Client) -> None:
    anchor = await venue(client, "The Anchor")
    luna, sol = await artist(client, "Luna"), await artist(client, "Sol")
    for sender in (luna, sol):
        cid = (await start(client, sender, anchor))["id"]
        await send(client, sender, cid, "hello")
        await send(client, sender, cid, "hello again")
    names = [email["payload"]["sender_name"] for email in await message_emails(anchor.user_id)]
    assert sorted(names) == ["Luna", "Sol"]


async def test_email_preferences_are_honoured_and_a_refused_message_sends_nothing(
    client: Client,
) -> None:
    quiet = await venue(client, "Quiet Bar", notify_email=False)
    luna = await artist(client, "Luna")
    cid = (await start(client, luna, quiet))["id"]
    await send(client, luna, cid, "hello")
    assert await message_emails(quiet.user_id) == []

    other = await venue(client, "Loud Bar")
    cid = (await start(client, luna, other))["id"]
    refused = await client.post(
        f"/v1/conversations/{cid}/messages", json={"content": "x" * 2001}, headers=luna.headers
    )
    assert (await error_of(refused))[0] == 400
    assert await message_emails(other.user_id) == []
