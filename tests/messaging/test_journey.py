"""End to end: an artist and a venue talk, with a file, polling as the SPA does. Real HTTP,
Postgres, Redis, S3 (upload and download through presigned links), the worker and the fake
Resend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.conftest import start_client
from tests.fakes.resend import FakeResend, use_fake_resend
from tests.messaging.chat import (
    Client,
    artist,
    clear_of_an_etag_window_edge,
    data_of,
    inbox,
    message_emails,
    read,
    send,
    thread,
    venue,
)
from tests.uploads import PDF, post_form
from tests.workers import eventually, in_process_worker
from umbrella import keys
from umbrella.app import create_app
from umbrella.config import Settings


@pytest.fixture(autouse=True)
async def _not_across_an_etag_window() -> None:
    """These tests expect 304s from one poll to the next: keep them inside one ETag window."""
    await clear_of_an_etag_window_edge()


@pytest.fixture
async def messaging(
    settings: Settings, fake_resend: FakeResend
) -> AsyncIterator[tuple[Client, Settings]]:
    configured = use_fake_resend(settings, fake_resend)
    client = await start_client(create_app(configured))
    yield client, configured
    await client.close()


def emails_to(fake: FakeResend, address: str) -> list[dict[str, Any]]:
    return [mail for mail in fake.sent if mail["to"] == [address]]


async def test_an_artist_and_a_venue_talk_with_a_file(
    messaging: tuple[Client, Settings], fake_resend: FakeResend
) -> None:
    client, settings = messaging
    luna = await artist(client, "Luna Vega", email="luna@example.com")
    anchor = await venue(client, "The Anchor", email="bookings@anchor.example")

    # The venue opens the conversation from Luna's profile; Luna finds the same one.
    opened = await client.post(
        "/v1/conversations", json={"artist_id": str(luna.artist_id)}, headers=anchor.headers
    )
    cid = (await data_of(opened, 201))["id"]
    found = await client.post(
        "/v1/conversations", json={"user_id": str(anchor.user_id)}, headers=luna.headers
    )
    assert (await data_of(found))["id"] == cid

    # The venue's SPA loads its inbox, then polls with since and the ETag.
    first = await inbox(client, anchor)
    since = first["since"]
    polled = await client.get("/v1/conversations", params={"since": since}, headers=anchor.headers)
    etag = polled.headers["ETag"]
    idle = await client.get(
        "/v1/conversations",
        params={"since": since},
        headers={**anchor.headers, "If-None-Match": etag},
    )
    assert idle.status == 304

    # Luna uploads her rider straight to S3 and sends it, then two more messages.
    issued = await data_of(
        await client.post(
            "/v1/messages/attachment",
            json={
                "conversation_id": cid,
                "content_type": "application/pdf",
                "size_bytes": len(PDF),
                "filename": "Luna rider.pdf",
            },
            headers=luna.headers,
        ),
        201,
    )
    status, text = await post_form(issued["url"], issued["fields"], PDF)
    assert status in (200, 201, 204), text
    await send(client, luna, cid, "Hi! Here is my rider.", upload_id=issued["upload_id"])
    await send(client, luna, cid, "I'm free every Friday in March.")
    await send(client, luna, cid, "Flat fee of $300 works for me.")

    # The next poll is no longer a 304: only this conversation changed, with 3 unread.
    changed = await client.get(
        "/v1/conversations",
        params={"since": since},
        headers={**anchor.headers, "If-None-Match": etag},
    )
    update = await data_of(changed)
    [summary] = update["items"]
    assert (summary["id"], summary["unread_count"]) == (cid, 3)
    assert summary["other"]["name"] == "Luna Vega"
    assert summary["last_message_preview"] == "Flat fee of $300 works for me."

    # The venue reads the thread and downloads the rider through its one-hour link.
    messages = (await thread(client, anchor, cid))["items"]
    assert [message["content"] for message in messages] == [
        "Flat fee of $300 works for me.",
        "I'm free every Friday in March.",
        "Hi! Here is my rider.",
    ]
    rider = messages[2]
    assert rider["attachment"]["filename"] == "Luna rider.pdf"
    link = await data_of(
        await client.get(
            f"/v1/conversations/{cid}/messages/{rider['id']}/attachment", headers=anchor.headers
        )
    )
    async with aiohttp.ClientSession() as browser, browser.get(link["url"]) as response:
        assert response.status == 200
        assert await response.read() == PDF

    # Read: the venue's count drops to zero, and Luna sees them as seen.
    assert (await read(client, anchor, cid))["marked_read"] == 3
    assert (await inbox(client, anchor))["items"][0]["unread_count"] == 0
    luna_view = (await inbox(client, luna))["items"][0]
    assert luna_view["unread_count"] == 0
    assert luna_view["other_last_read_at"] is not None
    await send(client, anchor, cid, "Booked! See you on the 13th.")
    await send(client, anchor, cid, "Load-in at 7.")
    assert (await inbox(client, luna))["items"][0]["unread_count"] == 2
    assert (await inbox(client, anchor, since=update["since"]))["items"][0]["unread_count"] == 0

    # One email each way for several messages, sent by the worker through Resend.
    assert len(await message_emails(anchor.user_id)) == 1
    assert len(await message_emails(luna.user_id)) == 1
    async with in_process_worker(settings, store=client.app[keys.STORAGE]):

        async def both_sent() -> bool:
            return bool(
                emails_to(fake_resend, "bookings@anchor.example")
                and emails_to(fake_resend, "luna@example.com")
            )

        await eventually(both_sent, what="the message emails")
    [to_venue] = emails_to(fake_resend, "bookings@anchor.example")
    assert to_venue["subject"] == "New message from Luna Vega"
    assert f"{settings.app_url.rstrip('/')}/messages/{cid}" in to_venue["text"]
    [to_luna] = emails_to(fake_resend, "luna@example.com")
    assert to_luna["subject"] == "New message from The Anchor"
    assert len(fake_resend.sent) == 2
