"""A form stays usable until it expires: what it writes after a confirm is never served or counted.

Each scenario confirms a real upload, then POSTs the same presigned form again with other
bytes (S3 takes them), and checks what the people involved would see: the download, its
type, the quota. Then the uploads cleanup sweeps the object the form wrote.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from tests.artists.conftest import new_artist
from tests.files.flow import (
    Client,
    artist_session,
    confirm,
    data_of,
    error_of,
    keys_under,
    sent,
    ticket_for,
    used_bytes,
)
from tests.messaging import chat
from tests.uploads import MP3, PDF, PNG, post_form
from umbrella import keys
from umbrella.core.cron import CronContext
from umbrella.files.tables import File
from umbrella.storage.cron import uploads_cleanup


def evil(size: int) -> bytes:
    """A page a browser would run, as long as the original (the form allows no more)."""
    return b"<html><script>alert(document.cookie)</script></html>".ljust(size, b" ")


async def post_again(ticket: dict[str, Any], body: bytes) -> None:
    status, text = await post_form(ticket["url"], ticket["fields"], body)
    assert status in (200, 201, 204), text  # the store still takes the form: it has not expired


async def fetch(url: str) -> tuple[bytes, str]:
    async with aiohttp.ClientSession() as browser, browser.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.read(), response.headers["Content-Type"]


async def sweep(client: Client) -> str:
    return await uploads_cleanup(CronContext(settings=client.app[keys.SETTINGS], redis=None))


async def test_a_file_form_posted_again_after_the_confirm_changes_nothing(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    ticket = await ticket_for(client, headers, PNG, "image/png", filename="shot.png")
    await sent(ticket, PNG)
    created = await data_of(await confirm(client, headers, ticket["upload_id"]), 201)

    await post_again(ticket, evil(len(PNG)))

    found = await data_of(await client.get(f"/v1/files/{created['id']}", headers=headers))
    assert await fetch(found["download_url"]) == (PNG, "image/png")
    usage = await data_of(await client.get("/v1/files/usage", headers=headers))
    assert usage["used_bytes"] == len(PNG)
    # A repeated confirm answers the same file, and does not copy the new bytes over it.
    again = await data_of(await confirm(client, headers, ticket["upload_id"]), 200)
    assert again["id"] == created["id"]
    assert await fetch(again["download_url"]) == (PNG, "image/png")
    assert await used_bytes(artist_id) == len(PNG)

    assert await keys_under(client, "uploads/") == [ticket["fields"]["key"]]
    assert await sweep(client) == "removed 0 expired uploads, swept 1 stray upload objects"
    assert await keys_under(client, "uploads/") == []
    assert await keys_under(client, f"files/{artist_id}/") == [
        f"files/{artist_id}/root/{created['id']}.png"
    ]
    assert await fetch(found["download_url"]) == (PNG, "image/png")


async def test_two_confirms_at_once_make_one_file_charged_once(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    ticket = await ticket_for(client, headers, PNG, "image/png")
    await sent(ticket, PNG)

    first, second = await asyncio.gather(
        confirm(client, headers, ticket["upload_id"]),
        confirm(client, headers, ticket["upload_id"]),
    )

    assert sorted([first.status, second.status]) == [200, 201]
    assert (await first.json())["data"]["id"] == (await second.json())["data"]["id"]
    assert await File.count() == 1
    assert await used_bytes(artist_id) == len(PNG)


async def test_forms_posted_again_after_a_refusal_or_a_delete_are_swept(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    refused = await ticket_for(client, headers, PDF, "image/png")
    await sent(refused, PDF)
    assert (await error_of(await confirm(client, headers, refused["upload_id"]), 400))[
        "field"
    ] == "file"
    deleted = await ticket_for(client, headers, PNG, "image/png")
    await sent(deleted, PNG)
    created = await data_of(await confirm(client, headers, deleted["upload_id"]), 201)
    await data_of(await client.delete(f"/v1/files/{created['id']}", headers=headers))

    await post_again(refused, PDF)
    await post_again(deleted, PNG)

    assert len(await keys_under(client, "uploads/")) == 2
    assert await sweep(client) == "removed 0 expired uploads, swept 2 stray upload objects"
    assert await keys_under(client, "uploads/") == []
    assert await keys_under(client, f"files/{artist_id}/") == []
    assert await used_bytes(artist_id) == 0


async def test_the_recipient_downloads_the_attachment_that_was_sent(client: Client) -> None:
    luna, anchor = await chat.artist(client), await chat.venue(client)
    cid = (await chat.start(client, luna, anchor))["id"]
    ticket = await data_of(
        await client.post(
            "/v1/messages/attachment",
            json={
                "conversation_id": str(cid),
                "content_type": "image/png",
                "size_bytes": len(PNG),
                "filename": "poster.png",
            },
            headers=luna.headers,
        ),
        201,
    )
    await sent(ticket, PNG)
    message = await chat.send(client, luna, cid, "Our poster", upload_id=ticket["upload_id"])

    await post_again(ticket, evil(len(PNG)))

    link = await chat.data_of(
        await client.get(
            f"/v1/conversations/{cid}/messages/{message['id']}/attachment",
            headers=anchor.headers,
        )
    )
    assert await fetch(link["url"]) == (PNG, "image/png")
    assert luna.artist_id is not None
    assert await used_bytes(luna.artist_id) == len(PNG)
    assert await sweep(client) == "removed 0 expired uploads, swept 1 stray upload objects"
    assert await keys_under(client, "uploads/") == []
    assert await fetch(link["url"]) == (PNG, "image/png")


async def test_an_avatar_form_posted_again_leaves_the_avatar_as_it_was(client: Client) -> None:
    artist = await new_artist(client)
    ticket = await data_of(
        await client.post(
            "/v1/profile/avatar",
            json={"content_type": "image/png", "size_bytes": len(PNG)},
            headers=artist.headers,
        ),
        201,
    )
    await sent(ticket, PNG)
    confirm_url = "/v1/profile/avatar/confirm"
    body = {"upload_id": ticket["upload_id"]}
    await data_of(await client.post(confirm_url, json=body, headers=artist.headers))

    await post_again(ticket, evil(len(PNG)))

    profile = await data_of(await client.get(f"/v1/profile/{artist.artist_id}"))
    assert await fetch(profile["avatar_url"]) == (PNG, "image/png")
    again = await data_of(await client.post(confirm_url, json=body, headers=artist.headers))
    assert await fetch(again["url"]) == (PNG, "image/png")
    assert await sweep(client) == "removed 0 expired uploads, swept 1 stray upload objects"
    assert await fetch(profile["avatar_url"]) == (PNG, "image/png")


async def test_a_track_form_posted_again_leaves_the_audio_and_the_quota(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    ticket = await data_of(
        await client.post(
            "/v1/profile/tracks/upload",
            json={"content_type": "audio/mpeg", "size_bytes": len(MP3), "filename": "demo.mp3"},
            headers=headers,
        ),
        201,
    )
    await sent(ticket, MP3)
    body = {"title": "Demo", "upload_id": ticket["upload_id"]}
    track = await data_of(await client.post("/v1/profile/tracks", json=body, headers=headers), 201)

    await post_again(ticket, evil(len(MP3)))

    portfolio = await data_of(await client.get(f"/v1/profile/{artist_id}/portfolio"))
    assert await fetch(portfolio["tracks"][0]["audio_url"]) == (MP3, "audio/mpeg")
    assert await used_bytes(artist_id) == len(MP3)
    # A retry after a lost answer gets the same track, not a 404 or a second track.
    again = await data_of(await client.post("/v1/profile/tracks", json=body, headers=headers))
    assert again["id"] == track["id"] == ticket["track_id"]
    assert await used_bytes(artist_id) == len(MP3)
    assert await sweep(client) == "removed 0 expired uploads, swept 1 stray upload objects"
    assert await keys_under(client, "uploads/") == []
