"""D-026: 50 GB per artist, enforced atomically, so concurrent confirms never pass the limit."""

from __future__ import annotations

import asyncio

from openapi_spec_validator import validate

from tests.files.flow import (
    Client,
    artist_session,
    confirm,
    data_of,
    error_of,
    keys_under,
    sent,
    set_quota,
    ticket_for,
    uploaded,
    used_bytes,
)
from tests.uploads import MP3, PNG
from umbrella.files.tables import File
from umbrella.storage.service import human_size
from umbrella.storage.tables import DEFAULT_QUOTA_BYTES, PendingUpload, StorageQuota

CONFIRMS = 20
FITS = 7


async def test_concurrent_confirms_near_the_limit_never_pass_it(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    # Room for exactly 7 of the 20 files, with half a file to spare.
    limit = FITS * len(PNG) + len(PNG) // 2
    await set_quota(artist_id, limit_bytes=limit)
    # Every URL is issued while all of them still fit: only the confirm can decide.
    tickets = [
        await ticket_for(client, headers, PNG, "image/png", filename=f"shot {n}.png")
        for n in range(CONFIRMS)
    ]
    await asyncio.gather(*(sent(ticket, PNG) for ticket in tickets))
    assert len(await keys_under(client, "uploads/")) == CONFIRMS

    responses = await asyncio.gather(
        *(confirm(client, headers, ticket["upload_id"]) for ticket in tickets)
    )

    accepted = [t for t, r in zip(tickets, responses, strict=True) if r.status == 201]
    refused = [r for r in responses if r.status != 201]
    assert len(accepted) == FITS
    for response in refused:
        error = await error_of(response, 400)
        assert (error["code"], error["field"]) == ("QUOTA_EXCEEDED", "size_bytes")
    used = await used_bytes(artist_id)
    assert used == FITS * len(PNG) <= limit
    assert await File.count() == FITS
    # the refused uploads are gone for good: their pending rows and their objects
    assert await PendingUpload.count() == 0
    assert await keys_under(client, f"files/{artist_id}/") == sorted(
        f"files/{artist_id}/root/{ticket['file_id']}.png" for ticket in accepted
    )
    assert await keys_under(client, "uploads/") == []
    usage = await data_of(await client.get("/v1/files/usage", headers=headers))
    assert (usage["used_bytes"], usage["limit_bytes"], usage["free_bytes"]) == (
        used,
        limit,
        limit - used,
    )

    # deleting gives the bytes back: one more file fits again
    await client.delete(f"/v1/files/{accepted[0]['file_id']}", headers=headers)
    assert await used_bytes(artist_id) == (FITS - 1) * len(PNG)
    await uploaded(client, headers, PNG, "image/png")
    assert await used_bytes(artist_id) == FITS * len(PNG)


async def test_usage_counts_the_quota_by_category_and_what_lies_outside_files(
    client: Client,
) -> None:
    artist_id, headers = await artist_session(client)
    fresh = await data_of(await client.get("/v1/files/usage", headers=headers))
    assert fresh == {
        "used_bytes": 0,
        "limit_bytes": DEFAULT_QUOTA_BYTES,  # D-026: 50 GB
        "free_bytes": DEFAULT_QUOTA_BYTES,
        "used_percent": 0.0,
        "file_count": 0,
        "by_category": {"press_photo": 0, "music": 0, "video": 0, "document": 0, "other": 0},
        "other_bytes": 0,
    }
    await uploaded(client, headers, PNG, "image/png")
    await uploaded(client, headers, MP3, "audio/mpeg", filename="demo.mp3")
    # a portfolio track counts against the same quota, outside the file manager
    ticket = await client.post(
        "/v1/profile/tracks/upload",
        json={"content_type": "audio/mpeg", "size_bytes": len(MP3)},
        headers=headers,
    )
    track = await data_of(ticket, 201)
    await sent(track, MP3)
    created = await client.post(
        "/v1/profile/tracks",
        json={"title": "Night Drive", "upload_id": track["upload_id"]},
        headers=headers,
    )
    assert created.status == 201
    await StorageQuota.update({StorageQuota.limit_bytes: 8 * len(MP3)}).where(
        StorageQuota.artist_id == artist_id
    )

    usage = await data_of(await client.get("/v1/files/usage", headers=headers))

    used = len(PNG) + 2 * len(MP3)
    assert usage["used_bytes"] == used
    assert usage["free_bytes"] == 8 * len(MP3) - used
    assert usage["used_percent"] == round(100 * used / (8 * len(MP3)), 2)
    assert usage["file_count"] == 2
    assert usage["by_category"]["press_photo"] == len(PNG)
    assert usage["by_category"]["music"] == len(MP3)
    assert usage["other_bytes"] == len(MP3)


async def test_the_file_routes_are_in_the_openapi_document(client: Client) -> None:
    spec = await (await client.get("/v1/openapi.json")).json()
    validate(spec)
    paths = spec["paths"]
    assert set(paths["/v1/files"]) >= {"get", "post"}
    assert set(paths["/v1/files/{file_id}"]) >= {"get", "delete"}
    assert "put" in paths["/v1/files/{file_id}/move"]
    assert "post" in paths["/v1/files/upload"]
    assert "get" in paths["/v1/files/usage"]
    assert set(paths["/v1/files/folders"]) >= {"get", "post"}
    assert set(paths["/v1/files/folders/{folder_id}"]) >= {"put", "delete"}
    listed = {p["name"] for p in paths["/v1/files"]["get"]["parameters"]}
    assert {"folder_id", "category", "type", "cursor", "limit"} <= listed


def test_sizes_read_as_people_read_them() -> None:
    assert human_size(1) == "1 byte"
    assert human_size(1023) == "1023 bytes"
    assert human_size(1536) == "1.5 KB"
    assert human_size(DEFAULT_QUOTA_BYTES) == "50 GB"
    assert human_size(10 * 1024 * 1024 - 1) == "9.9 MB"  # free space never reads as more
    assert human_size(10 * 1024 * 1024 - 1, round_up=True) == "10 MB"  # nor a file as less
