"""The file manager as an artist lives it: upload, confirm, list, download, move, delete."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

import aiohttp
import pytest

from tests.factories import bearer_for, make_user
from tests.files.flow import (
    DOCX,
    DOCX_MIME,
    HEIC,
    MB,
    MOV,
    MP4,
    Client,
    artist_session,
    confirm,
    data_of,
    error_of,
    keys_under,
    make_folder,
    sent,
    set_quota,
    ticket_for,
    uploaded,
    used_bytes,
)
from tests.uploads import FLAC, JPEG, MP3, PDF, PNG, WAV, post_form
from umbrella.files.tables import File
from umbrella.storage.tables import PendingUpload


async def test_an_uploaded_file_is_listed_downloaded_and_deleted(client: Client) -> None:
    artist_id, headers = await artist_session(client)

    ticket = await ticket_for(client, headers, PNG, "image/png", filename="Press shot")
    # The form writes under uploads/ only; the confirm copies the file to its SPEC §3.5
    # place, files/{artistId}/{folderId or 'root'}/…, the file's id in the key.
    assert ticket["fields"]["key"] == f"uploads/{ticket['upload_id']}.png"
    assert ticket["max_bytes"] == len(PNG)
    await sent(ticket, PNG)
    created = await data_of(await confirm(client, headers, ticket["upload_id"]), 201)
    assert await keys_under(client, f"files/{artist_id}/") == [
        f"files/{artist_id}/root/{ticket['file_id']}.png"
    ]
    assert await keys_under(client, "uploads/") == []

    assert created["id"] == ticket["file_id"]
    assert (created["type"], created["category"], created["mime_type"]) == (
        "image",
        "press_photo",  # the default category of an image
        "image/png",
    )
    assert (created["filename"], created["size_bytes"], created["folder_id"]) == (
        "Press shot",
        len(PNG),
        None,
    )
    assert await used_bytes(artist_id) == len(PNG)
    assert await PendingUpload.count() == 0

    listed = await data_of(await client.get("/v1/files", headers=headers))
    assert [item["id"] for item in listed["items"]] == [created["id"]]
    assert "download_url" not in listed["items"][0]
    assert listed["next_cursor"] is None

    found = await data_of(await client.get(f"/v1/files/{created['id']}", headers=headers))
    async with aiohttp.ClientSession() as browser, browser.get(found["download_url"]) as got:
        assert got.status == 200
        assert await got.read() == PNG
        # saved under its name, with the extension of its type
        assert 'filename="Press shot.png"' in got.headers["Content-Disposition"]

    deleted = await data_of(await client.delete(f"/v1/files/{created['id']}", headers=headers))
    assert deleted == {"deleted": True}
    assert await used_bytes(artist_id) == 0  # the bytes are given back
    assert await keys_under(client, f"files/{artist_id}/") == []
    assert (await error_of(await client.get(f"/v1/files/{created['id']}", headers=headers), 404))[
        "field"
    ] == "file_id"
    again = await client.delete(f"/v1/files/{created['id']}", headers=headers)
    assert (await error_of(again, 404))["field"] == "file_id"


async def test_every_accepted_type_gets_its_default_category(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    cases = [
        (JPEG, "image/jpeg", "image", "press_photo"),
        (PNG, "image/png", "image", "press_photo"),
        (HEIC, "image/heic", "image", "press_photo"),
        (MP3, "audio/mpeg", "audio", "music"),
        (WAV, "audio/wav", "audio", "music"),
        (FLAC, "audio/flac", "audio", "music"),
        (MP4, "video/mp4", "video", "video"),
        (MOV, "video/quicktime", "video", "video"),
        (PDF, "application/pdf", "document", "document"),
        (DOCX, DOCX_MIME, "document", "document"),
    ]
    for body, mime, kind, category in cases:
        created = await uploaded(client, headers, body, mime, filename=f"a {kind}")
        assert (created["type"], created["category"], created["mime_type"]) == (
            kind,
            category,
            mime,
        ), mime
    # the artist may say otherwise
    rider = await uploaded(client, headers, PDF, "application/pdf", category="other")
    assert rider["category"] == "other"
    total = sum(len(body) for body, *_ in cases) + len(PDF)
    assert await used_bytes(artist_id) == total
    usage = await data_of(await client.get("/v1/files/usage", headers=headers))
    assert usage["used_bytes"] == total
    assert usage["file_count"] == len(cases) + 1
    assert usage["by_category"] == {
        "press_photo": len(JPEG) + len(PNG) + len(HEIC),
        "music": len(MP3) + len(WAV) + len(FLAC),
        "video": len(MP4) + len(MOV),
        "document": len(PDF) + len(DOCX),
        "other": len(PDF),
    }
    assert usage["other_bytes"] == 0


async def test_only_accepted_types_within_their_size_limit_get_an_upload(client: Client) -> None:
    _, headers = await artist_session(client)
    ok_request = {"content_type": "image/png", "size_bytes": 100, "filename": "a.png"}
    cases = [
        ({**ok_request, "content_type": "application/x-msdownload"}, 400, "content_type"),
        ({**ok_request, "content_type": "image/gif"}, 400, "content_type"),
        ({**ok_request, "content_type": "audio/mpeg", "size_bytes": 60 * MB}, 413, "size_bytes"),
        ({**ok_request, "content_type": "video/mp4", "size_bytes": 50 * MB + 1}, 413, "size_bytes"),
        ({**ok_request, "size_bytes": 10 * MB + 1}, 413, "size_bytes"),
        (
            {**ok_request, "content_type": "application/pdf", "size_bytes": 10 * MB + 1},
            413,
            "size_bytes",
        ),
        ({**ok_request, "size_bytes": 0}, 400, "size_bytes"),
        ({**ok_request, "filename": "setup.exe/x"}, 400, "filename"),
        ({**ok_request, "filename": "   "}, 400, "filename"),
        ({**ok_request, "filename": "a" * 256}, 400, "filename"),
        ({"content_type": "image/png", "size_bytes": 100}, 400, "filename"),
        ({**ok_request, "folder_id": "not-a-uuid"}, 400, "folder_id"),
        ({**ok_request, "extra": 1}, 400, "extra"),
    ]
    for request, status, field in cases:
        response = await client.post("/v1/files/upload", json=request, headers=headers)
        assert (await error_of(response, status))["field"] == field, request
    assert await PendingUpload.count() == 0
    # the largest accepted sizes are fine
    for mime, size in [("audio/wav", 50 * MB), ("video/quicktime", 50 * MB), (DOCX_MIME, 10 * MB)]:
        request = {**ok_request, "content_type": mime, "size_bytes": size}
        response = await client.post("/v1/files/upload", json=request, headers=headers)
        assert response.status == 201, await response.text()


async def test_bytes_that_are_not_the_declared_type_are_deleted_and_not_charged(
    client: Client,
) -> None:
    artist_id, headers = await artist_session(client)
    ticket = await ticket_for(client, headers, PDF, "image/png")
    await sent(ticket, PDF)  # the store checks the declared type, not the bytes
    assert await keys_under(client, "uploads/") != []

    refused = await confirm(client, headers, ticket["upload_id"])

    error = await error_of(refused, 400)
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "file")
    assert "PNG" in error["message"]
    assert await keys_under(client, f"files/{artist_id}/") == []
    assert await keys_under(client, "uploads/") == []
    assert await PendingUpload.count() == 0
    assert await File.count() == 0
    assert await used_bytes(artist_id) == 0


async def test_the_store_refuses_a_body_bigger_than_declared(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    ticket = await ticket_for(client, headers, MP3, "audio/mpeg", filename="demo.mp3")

    status, text = await post_form(ticket["url"], ticket["fields"], MP3 + b"x")

    assert status == 400
    assert "EntityTooLarge" in text
    assert await keys_under(client, f"files/{artist_id}/") == []
    # nothing arrived: the confirm says so and keeps the upload for a proper try
    error = await error_of(await confirm(client, headers, ticket["upload_id"]), 400)
    assert error["field"] == "upload_id"
    await sent(ticket, MP3)
    assert (await data_of(await confirm(client, headers, ticket["upload_id"]), 201))[
        "size_bytes"
    ] == len(MP3)


async def test_a_confirm_of_an_unknown_or_someone_elses_upload_is_not_found(
    client: Client,
) -> None:
    artist_id, headers = await artist_session(client)
    _, other_headers = await artist_session(client, "Other")
    ticket = await ticket_for(client, headers, PNG, "image/png")
    await sent(ticket, PNG)

    for who, upload_id in [(headers, str(uuid4())), (other_headers, ticket["upload_id"])]:
        error = await error_of(await confirm(client, who, upload_id), 404)
        assert (error["code"], error["field"]) == ("NOT_FOUND", "upload_id")
    # a track's upload is not a file's
    track = await client.post(
        "/v1/profile/tracks/upload",
        json={"content_type": "audio/mpeg", "size_bytes": len(MP3)},
        headers=headers,
    )
    track_upload = (await data_of(track, 201))["upload_id"]
    assert (await error_of(await confirm(client, headers, track_upload), 404))[
        "field"
    ] == "upload_id"

    # the owner's upload was left alone, and confirms once: twice at once charges once, and
    # a confirm repeated later (its first answer lost) answers the same file
    first, second = await asyncio.gather(
        confirm(client, headers, ticket["upload_id"]),
        confirm(client, headers, ticket["upload_id"]),
    )
    assert sorted([first.status, second.status]) == [200, 201]
    made = {(await first.json())["data"]["id"], (await second.json())["data"]["id"]}
    again = await confirm(client, headers, ticket["upload_id"])
    assert again.status == 200
    assert made == {(await again.json())["data"]["id"]} == {ticket["file_id"]}
    assert await used_bytes(artist_id) == len(PNG)
    assert await File.count() == 1
    # someone else confirming it still finds nothing
    assert (await error_of(await confirm(client, other_headers, ticket["upload_id"]), 404))[
        "field"
    ] == "upload_id"
    assert await keys_under(client, f"files/{artist_id}/") == [
        f"files/{artist_id}/root/{ticket['file_id']}.png"
    ]


async def test_only_artists_with_a_profile_have_files(client: Client) -> None:
    venue = await bearer_for(client.app, await make_user(role="venue"))
    no_profile = await bearer_for(client.app, await make_user(role="artist"))
    request = {"content_type": "image/png", "size_bytes": 100, "filename": "a.png"}
    for headers, status in [(venue, 403), (no_profile, 404)]:
        for method, path, body in [
            ("POST", "/v1/files/upload", request),
            ("POST", "/v1/files", {"upload_id": str(uuid4())}),
            ("GET", "/v1/files", None),
            ("GET", "/v1/files/usage", None),
            ("GET", "/v1/files/folders", None),
            ("POST", "/v1/files/folders", {"name": "Press"}),
        ]:
            response = await client.request(method, path, json=body, headers=headers)
            error = await error_of(response, status)
            # Before onboarding step 1 the answer sends the web app to onboarding.
            assert error.get("field") == ("onboarding" if status == 404 else None), (method, path)
    assert (await client.get("/v1/files")).status == 401
    assert await PendingUpload.count() == 0


async def test_the_quota_is_checked_before_the_upload_url(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    await set_quota(artist_id, limit_bytes=3 * MB, used=3 * MB - 1536)

    response = await client.post(
        "/v1/files/upload",
        json={"content_type": "image/png", "size_bytes": 2048, "filename": "a.png"},
        headers=headers,
    )

    error = await error_of(response, 400)
    assert (error["code"], error["field"]) == ("QUOTA_EXCEEDED", "size_bytes")
    # the message names, in human units, how much is free
    assert "1.5 KB free" in error["message"]
    assert "3 MB" in error["message"]
    assert await PendingUpload.count() == 0
    # a file that fits still gets its URL
    fits = await client.post(
        "/v1/files/upload",
        json={"content_type": "image/png", "size_bytes": 1536, "filename": "a.png"},
        headers=headers,
    )
    assert fits.status == 201


async def test_a_confirm_over_the_quota_deletes_the_upload(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    ticket = await ticket_for(client, headers, PNG, "image/png")
    await sent(ticket, PNG)
    # the space went to other uploads between the URL and the confirm
    await set_quota(artist_id, limit_bytes=10 * len(PNG), used=10 * len(PNG) - 10)

    response = await confirm(client, headers, ticket["upload_id"])

    error = await error_of(response, 400)
    assert (error["code"], error["field"]) == ("QUOTA_EXCEEDED", "size_bytes")
    assert "10 bytes free" in error["message"]
    assert await used_bytes(artist_id) == 10 * len(PNG) - 10
    assert await File.count() == 0
    assert await PendingUpload.count() == 0
    assert await keys_under(client, f"files/{artist_id}/") == []
    assert (await error_of(await confirm(client, headers, ticket["upload_id"]), 404))[
        "field"
    ] == "upload_id"


async def test_lists_filter_by_folder_category_and_type_newest_first(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    _, other_headers = await artist_session(client, "Other")
    press = await make_folder(client, headers, "Press")
    others_folder = await make_folder(client, other_headers, "Mine")
    photo = await uploaded(client, headers, PNG, "image/png", folder_id=press["id"])
    song = await uploaded(client, headers, MP3, "audio/mpeg", filename="song.mp3")
    rider = await uploaded(client, headers, PDF, "application/pdf", filename="rider.pdf")
    memo = await uploaded(client, headers, WAV, "audio/wav", category="other")
    await uploaded(client, other_headers, PNG, "image/png")  # never in this artist's lists
    # a file keeps its key when moved; the key names the folder it was uploaded into
    photo_row = await File.select(File.s3_key).where(File.id == UUID(photo["id"])).first()
    assert photo_row == {"s3_key": f"files/{artist_id}/{press['id']}/{photo['id']}.png"}

    async def ids(query: str) -> list[str]:
        page = await data_of(await client.get(f"/v1/files{query}", headers=headers))
        return [item["id"] for item in page["items"]]

    assert await ids("") == [memo["id"], rider["id"], song["id"], photo["id"]]
    assert await ids("?folder_id=root") == [memo["id"], rider["id"], song["id"]]
    assert await ids(f"?folder_id={press['id']}") == [photo["id"]]
    assert await ids("?type=audio") == [memo["id"], song["id"]]
    assert await ids("?category=music") == [song["id"]]
    assert await ids("?type=audio&category=other&folder_id=root") == [memo["id"]]
    assert await ids("?type=video") == []

    # keyset pages: newest first, none repeated, none skipped
    seen, cursor = [], None
    while True:
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = await data_of(await client.get(f"/v1/files{query}", headers=headers))
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [memo["id"], rider["id"], song["id"], photo["id"]]

    for query, field in [
        (f"?folder_id={others_folder['id']}", "folder_id"),
        (f"?folder_id={uuid4()}", "folder_id"),
    ]:
        assert (await error_of(await client.get(f"/v1/files{query}", headers=headers), 404))[
            "field"
        ] == field
    for query, field in [
        ("?type=executable", "type"),
        ("?category=selfies", "category"),
        ("?folder_id=top", "folder_id"),
        ("?cursor=forged", "cursor"),
        ("?limit=101", "limit"),
    ]:
        assert (await error_of(await client.get(f"/v1/files{query}", headers=headers), 400))[
            "field"
        ] == field


async def test_someone_elses_file_is_not_found(client: Client) -> None:
    _, headers = await artist_session(client)
    other_id, other_headers = await artist_session(client, "Other")
    theirs = await uploaded(client, other_headers, PNG, "image/png")
    for method, path, body in [
        ("GET", f"/v1/files/{theirs['id']}", None),
        ("DELETE", f"/v1/files/{theirs['id']}", None),
        ("PUT", f"/v1/files/{theirs['id']}/move", {"folder_id": None}),
    ]:
        response = await client.request(method, path, json=body, headers=headers)
        assert (await error_of(response, 404))["field"] == "file_id", method
    assert await used_bytes(other_id) == len(PNG)
    assert len(await keys_under(client, f"files/{other_id}/")) == 1


async def test_a_file_moves_between_own_folders_and_is_renamed(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    _, other_headers = await artist_session(client, "Other")
    press = await make_folder(client, headers, "Press")
    theirs = await make_folder(client, other_headers, "Theirs")
    photo = await uploaded(client, headers, PNG, "image/png", filename="shot.png")
    move = f"/v1/files/{photo['id']}/move"

    moved = await data_of(await client.put(move, json={"folder_id": press["id"]}, headers=headers))
    assert (moved["folder_id"], moved["filename"]) == (press["id"], "shot.png")
    renamed = await data_of(await client.put(move, json={"filename": "Cover"}, headers=headers))
    assert (renamed["folder_id"], renamed["filename"]) == (press["id"], "Cover")
    back = await data_of(
        await client.put(move, json={"folder_id": None, "filename": "Cover 2"}, headers=headers)
    )
    assert (back["folder_id"], back["filename"]) == (None, "Cover 2")

    for body, status, field in [
        ({"folder_id": theirs["id"]}, 404, "folder_id"),
        ({"folder_id": str(uuid4())}, 404, "folder_id"),
        ({}, 400, "body"),
        ({"filename": None}, 400, "filename"),
        ({"filename": "a/b"}, 400, "filename"),
    ]:
        response = await client.put(move, json=body, headers=headers)
        error = await error_of(response, status)
        assert error["field"] == field, body
    found = await data_of(await client.get(f"/v1/files/{photo['id']}", headers=headers))
    assert (found["folder_id"], found["filename"]) == (None, "Cover 2")
    # moving changes no bytes
    assert await used_bytes(artist_id) == len(PNG)


async def test_an_upload_goes_only_into_an_own_folder(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    _, other_headers = await artist_session(client, "Other")
    theirs = await make_folder(client, other_headers, "Theirs")
    response = await client.post(
        "/v1/files/upload",
        json={
            "content_type": "image/png",
            "size_bytes": len(PNG),
            "filename": "a.png",
            "folder_id": theirs["id"],
        },
        headers=headers,
    )
    assert (await error_of(response, 404))["field"] == "folder_id"
    assert await PendingUpload.count() == 0

    # a folder deleted while its upload is on the way: the file lands at the top level
    doomed = await make_folder(client, headers, "Doomed")
    ticket = await ticket_for(client, headers, PNG, "image/png", folder_id=doomed["id"])
    await sent(ticket, PNG)
    gone = await client.delete(f"/v1/files/folders/{doomed['id']}", headers=headers)
    assert gone.status == 200
    created = await data_of(await confirm(client, headers, ticket["upload_id"]), 201)
    assert created["folder_id"] is None
    assert await used_bytes(artist_id) == len(PNG)


@pytest.mark.parametrize("path", ["/v1/files/usage", "/v1/files/upload", "/v1/files/folders"])
async def test_fixed_paths_are_not_taken_for_a_file_id(client: Client, path: str) -> None:
    _, headers = await artist_session(client)
    response = await client.get(path, headers=headers)
    assert response.status in (200, 405)
