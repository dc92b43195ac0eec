"""Attachments: real uploads to S3, checked by content, for the two participants only, in quota."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.messaging.chat import (
    Client,
    Person,
    artist,
    data_of,
    error_of,
    send,
    start,
    thread,
    venue,
)
from tests.uploads import DOCX, JPEG, PDF, PNG, post_form
from umbrella import keys
from umbrella.core.storage import Storage
from umbrella.messaging.tables import Message
from umbrella.storage.tables import PendingUpload, StorageQuota
from umbrella.storage.uploads import MB

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def storage_of(client: Client) -> Storage:
    return client.app[keys.STORAGE]


async def target_key(upload_id: str) -> str:
    row = (
        await PendingUpload.select(PendingUpload.target_key)
        .where(PendingUpload.id == upload_id)
        .first()
    )
    assert row is not None
    return str(row["target_key"])


async def ticket(
    client: Client, person: Person, conversation_id: Any, **body: Any
) -> aiohttp.ClientResponse:
    return await client.post(
        "/v1/messages/attachment",
        json={"conversation_id": str(conversation_id), **body},
        headers=person.headers,
    )


async def upload(
    client: Client,
    person: Person,
    conversation_id: Any,
    body: bytes,
    *,
    content_type: str = "image/png",
    filename: str = "poster.png",
) -> Any:
    """Ask for a ticket and POST the file to S3 as a browser does; the ticket."""
    issued = await data_of(
        await ticket(
            client,
            person,
            conversation_id,
            content_type=content_type,
            size_bytes=len(body),
            filename=filename,
        ),
        201,
    )
    status, text = await post_form(issued["url"], issued["fields"], body)
    assert status in (200, 201, 204), text
    return issued


async def used_bytes(person: Person) -> int | None:
    row = (
        await StorageQuota.select(StorageQuota.used_bytes)
        .where(StorageQuota.artist_id == person.artist_id)
        .first()
    )
    return None if row is None else int(row["used_bytes"])


async def download(client: Client, person: Person, cid: Any, message_id: Any) -> Any:
    return await client.get(
        f"/v1/conversations/{cid}/messages/{message_id}/attachment", headers=person.headers
    )


async def test_an_attachment_goes_to_s3_and_only_the_two_can_fetch_it(client: Client) -> None:
    luna, anchor, stranger = await artist(client), await venue(client), await venue(client)
    cid = (await start(client, luna, anchor))["id"]
    issued = await upload(client, luna, cid, PNG)
    assert issued["max_bytes"] == len(PNG)
    assert issued["filename"] == "poster.png"
    pending = await PendingUpload.select().where(PendingUpload.id == issued["upload_id"]).first()
    assert pending is not None
    assert pending["s3_key"] == f"uploads/{issued['upload_id']}.png"
    assert pending["target_key"] == f"attachments/{cid}/{issued['message_id']}-poster.png"
    assert (pending["purpose"], str(pending["conversation_id"])) == ("attachment", cid)

    sent = await send(client, luna, cid, "Our poster", upload_id=issued["upload_id"])
    assert sent["id"] == issued["message_id"]
    assert sent["attachment"] == {
        "filename": "poster.png",
        "size_bytes": len(PNG),
        "mime_type": "image/png",
    }
    assert await PendingUpload.count() == 0
    # A second send with the same upload finds nothing to use.
    again = await client.post(
        f"/v1/conversations/{cid}/messages",
        json={"content": "again", "upload_id": issued["upload_id"]},
        headers=luna.headers,
    )
    assert await error_of(again) == (404, "NOT_FOUND", "upload_id")

    for person in (anchor, luna):
        link = await data_of(await download(client, person, cid, sent["id"]))
        assert (link["filename"], link["size_bytes"], link["mime_type"]) == (
            "poster.png",
            len(PNG),
            "image/png",
        )
        async with aiohttp.ClientSession() as browser, browser.get(link["url"]) as response:
            assert response.status == 200
            assert await response.read() == PNG
            assert "poster.png" in response.headers["Content-Disposition"]
            assert response.headers["Content-Type"] == "image/png"
    assert await error_of(await download(client, stranger, cid, sent["id"])) == (
        404,
        "NOT_FOUND",
        "conversation_id",
    )
    plain = await send(client, anchor, cid, "Nice!")
    assert await error_of(await download(client, luna, cid, plain["id"])) == (
        404,
        "NOT_FOUND",
        "message_id",
    )
    # The thread shows the file's details; its link comes from the attachment route.
    items = (await thread(client, anchor, cid))["items"]
    assert items[1]["attachment"]["filename"] == "poster.png"
    assert items[0]["attachment"] is None


async def test_a_pdf_declared_as_png_is_refused_and_its_object_deleted(client: Client) -> None:
    luna, anchor = await artist(client), await venue(client)
    cid = (await start(client, luna, anchor))["id"]
    issued = await upload(client, luna, cid, PDF, content_type="image/png", filename="cat.png")
    key = issued["fields"]["key"]
    assert await storage_of(client).stat(key) is not None

    refused = await client.post(
        f"/v1/conversations/{cid}/messages",
        json={"content": "a cat", "upload_id": issued["upload_id"]},
        headers=luna.headers,
    )
    assert await error_of(refused) == (400, "VALIDATION_ERROR", "file")
    assert (await refused.json())["error"]["message"] == "The file is not a valid PNG file."
    assert await storage_of(client).stat(key) is None
    assert (
        await storage_of(client).stat(f"attachments/{cid}/{issued['message_id']}-cat.png") is None
    )
    assert await PendingUpload.count() == 0
    assert await Message.count() == 0
    assert (await thread(client, anchor, cid))["conversation"]["unread_count"] == 0


async def test_an_upload_is_the_uploaders_and_for_one_conversation(client: Client) -> None:
    luna, anchor, sol = (
        await artist(client, "Luna"),
        await venue(client),
        await artist(client, "Sol"),
    )
    cid = (await start(client, luna, anchor))["id"]
    other_cid = (await start(client, luna, sol))["id"]
    issued = await upload(client, luna, cid, JPEG, content_type="image/jpeg", filename="a.jpg")

    # The other participant cannot send the uploader's file as theirs.
    theirs = await client.post(
        f"/v1/conversations/{cid}/messages",
        json={"content": "mine now", "upload_id": issued["upload_id"]},
        headers=anchor.headers,
    )
    assert await error_of(theirs) == (404, "NOT_FOUND", "upload_id")
    # Nor can the uploader move it to another conversation.
    moved = await client.post(
        f"/v1/conversations/{other_cid}/messages",
        json={"content": "elsewhere", "upload_id": issued["upload_id"]},
        headers=luna.headers,
    )
    assert await error_of(moved) == (404, "NOT_FOUND", "upload_id")
    assert await Message.count() == 0
    # It still works where it belongs.
    sent = await send(client, luna, cid, "here", upload_id=issued["upload_id"])
    assert sent["attachment"]["mime_type"] == "image/jpeg"


async def test_accepted_types_names_and_sizes(client: Client) -> None:
    luna, anchor = await artist(client), await venue(client)
    cid = (await start(client, luna, anchor))["id"]

    async def refused(**body: Any) -> tuple[int, str, str | None]:
        return await error_of(await ticket(client, luna, cid, **body))

    assert await refused(
        content_type="application/x-msdownload", size_bytes=1000, filename="setup.exe"
    ) == (400, "VALIDATION_ERROR", "content_type")
    assert await refused(content_type="image/png", size_bytes=1000, filename="setup.exe") == (
        400,
        "VALIDATION_ERROR",
        "filename",
    )
    assert await refused(content_type="audio/mpeg", size_bytes=60 * MB, filename="set.mp3") == (
        413,
        "PAYLOAD_TOO_LARGE",
        "size_bytes",
    )
    assert await refused(content_type="image/jpeg", size_bytes=10 * MB + 1, filename="a.jpg") == (
        413,
        "PAYLOAD_TOO_LARGE",
        "size_bytes",
    )
    assert await refused(content_type="application/pdf", size_bytes=0, filename="a.pdf") == (
        400,
        "VALIDATION_ERROR",
        "size_bytes",
    )
    assert await refused(content_type="image/png", size_bytes=10, filename="  ") == (
        400,
        "VALIDATION_ERROR",
        "filename",
    )
    assert await PendingUpload.count() == 0

    accepted = {
        ("video/mp4", 50 * MB, "live.mp4"): "live.mp4",
        ("audio/mpeg", 50 * MB, "demo.MP3"): "demo.MP3",
        ("application/pdf", 10 * MB, "rider"): "rider.pdf",
        ("image/jpeg", 100, "../../etc/photo.jpeg"): "photo.jpeg",
        ("application/pdf", 100, "Fiche technique été.pdf"): "Fiche technique été.pdf",
    }
    for (content_type, size, name), stored in accepted.items():
        issued = await data_of(
            await ticket(
                client, luna, cid, content_type=content_type, size_bytes=size, filename=name
            ),
            201,
        )
        assert issued["filename"] == stored
        assert issued["fields"]["key"].startswith(f"uploads/{issued['upload_id']}.")
        # Where the confirm puts the file (SPEC §3.5): never a form's key.
        key = await target_key(issued["upload_id"])
        assert key.startswith(f"attachments/{cid}/{issued['message_id']}-")
        assert ".." not in key
        assert key.isascii()


async def test_an_artists_attachments_count_against_the_quota_a_venues_do_not(
    client: Client,
) -> None:
    luna, anchor = await artist(client, "Luna"), await venue(client, "Anchor")
    cid = (await start(client, luna, anchor))["id"]

    issued = await upload(client, luna, cid, PNG)
    await send(client, luna, cid, "poster", upload_id=issued["upload_id"])
    assert await used_bytes(luna) == len(PNG)
    from_venue = await upload(
        client, anchor, cid, PDF, content_type="application/pdf", filename="rider.pdf"
    )
    await send(client, anchor, cid, "our rider", upload_id=from_venue["upload_id"])
    assert await used_bytes(luna) == len(PNG)
    assert await StorageQuota.count() == 1  # the venue has none

    # D-026: checked when the URL is asked for…
    await StorageQuota.update({StorageQuota.limit_bytes: len(PNG) + 100}).where(
        StorageQuota.artist_id == luna.artist_id
    )
    too_big = await ticket(
        client, luna, cid, content_type="image/png", size_bytes=101, filename="b.png"
    )
    assert await error_of(too_big) == (400, "QUOTA_EXCEEDED", "size_bytes")
    # …and enforced when the message is sent: nothing is written if it no longer fits.
    await StorageQuota.update({StorageQuota.limit_bytes: len(PNG) + len(JPEG)}).where(
        StorageQuota.artist_id == luna.artist_id
    )
    fits = await upload(client, luna, cid, JPEG, content_type="image/jpeg", filename="c.jpg")
    await StorageQuota.update({StorageQuota.limit_bytes: len(PNG) + 10}).where(
        StorageQuota.artist_id == luna.artist_id
    )
    over = await client.post(
        f"/v1/conversations/{cid}/messages",
        json={"content": "one more", "upload_id": fits["upload_id"]},
        headers=luna.headers,
    )
    assert await error_of(over) == (400, "QUOTA_EXCEEDED", "size_bytes")
    assert await Message.count() == 2
    assert await PendingUpload.count() == 1  # usable once space is freed, until it expires
    await StorageQuota.update({StorageQuota.limit_bytes: 10 * MB}).where(
        StorageQuota.artist_id == luna.artist_id
    )

    # The bytes come back when the conversation goes (the venue deleting their account).
    deleted = await client.delete(
        "/v1/settings/account", json={"confirm": "DELETE"}, headers=anchor.headers
    )
    assert deleted.status == 200, await deleted.text()
    assert await Message.count() == 0
    assert await used_bytes(luna) == 0


async def test_an_attachment_can_be_shown_in_the_browser_if_its_type_is_safe(
    client: Client,
) -> None:
    luna, anchor = await artist(client), await venue(client)
    cid = (await start(client, luna, anchor))["id"]
    pdf = await upload(client, luna, cid, PDF, content_type="application/pdf", filename="rider")
    with_pdf = await send(client, luna, cid, "Our rider", upload_id=pdf["upload_id"])
    docx = await upload(client, luna, cid, DOCX, content_type=DOCX_MIME, filename="bio.docx")
    with_docx = await send(client, luna, cid, "Our bio", upload_id=docx["upload_id"])

    async def link(message_id: Any, query: str) -> aiohttp.ClientResponse:
        return await client.get(
            f"/v1/conversations/{cid}/messages/{message_id}/attachment{query}",
            headers=anchor.headers,
        )

    shown = await data_of(await link(with_pdf["id"], "?disposition=inline"))
    async with aiohttp.ClientSession() as browser, browser.get(shown["url"]) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/pdf"
        assert response.headers["Content-Disposition"].startswith('inline; filename="rider.pdf"')
    saved = await data_of(await link(with_pdf["id"], ""))
    async with aiohttp.ClientSession() as browser, browser.get(saved["url"]) as response:
        assert response.headers["Content-Disposition"].startswith("attachment;")
    assert await error_of(await link(with_docx["id"], "?disposition=inline")) == (
        400,
        "VALIDATION_ERROR",
        "disposition",
    )
    assert await error_of(await link(with_pdf["id"], "?disposition=preview")) == (
        400,
        "VALIDATION_ERROR",
        "disposition",
    )
