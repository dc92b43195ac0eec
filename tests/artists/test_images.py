"""Avatar and banner: a real presigned POST to S3, a confirm that checks the bytes, a download."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from tests.artists.conftest import (
    Client,
    SignedInArtist,
    artist_row,
    data_of,
    error_of,
    new_artist,
    new_user,
)
from tests.uploads import JPEG, PDF, PNG, post_form
from umbrella import keys
from umbrella.storage.tables import PendingUpload, StorageQuota


async def download(url: str) -> bytes:
    async with aiohttp.ClientSession() as browser, browser.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.read()


async def upload(
    client: Client,
    artist: SignedInArtist,
    purpose: str,
    body: bytes,
    *,
    content_type: str = "image/png",
) -> dict[str, Any]:
    """Start an upload and send the file to S3 as a browser would; returns the ticket."""
    ticket: dict[str, Any] = await data_of(
        await client.post(
            f"/v1/profile/{purpose}",
            json={"content_type": content_type, "size_bytes": len(body)},
            headers=artist.headers,
        ),
        201,
    )
    status, text = await post_form(ticket["url"], ticket["fields"], body)
    assert status in (200, 201, 204), text
    return ticket


async def confirm(
    client: Client, artist: SignedInArtist, purpose: str, ticket: dict[str, Any]
) -> aiohttp.ClientResponse:
    return await client.post(
        f"/v1/profile/{purpose}/confirm",
        json={"upload_id": ticket["upload_id"]},
        headers=artist.headers,
    )


async def test_an_avatar_is_uploaded_confirmed_and_shown(
    client: Client, redis_client: Redis
) -> None:
    artist = await new_artist(client)
    public_url = f"/v1/profile/{artist.artist_id}"
    assert (await data_of(await client.get(public_url)))["avatar_url"] is None  # now cached

    ticket = await upload(client, artist, "avatar", PNG)
    assert ticket["max_bytes"] == len(PNG)
    image = await data_of(await confirm(client, artist, "avatar", ticket))
    assert await download(image["url"]) == PNG

    # The cached profile was dropped: the public page shows the avatar at once.
    shown = await data_of(await client.get(public_url))
    assert await download(shown["avatar_url"]) == PNG
    own = await data_of(await client.get("/v1/profile", headers=artist.headers))
    assert await download(own["avatar_url"]) == PNG
    # The column holds the object key; links are signed at read time, never cached.
    key = (await artist_row(artist.artist_id))["avatar_url"]
    assert key.startswith(f"profiles/{artist.artist_id}/avatar-")
    assert key.endswith(".png")
    cached = await redis_client.get(f"profile:{artist.artist_id}")
    assert cached is not None
    assert key.encode() in cached
    assert b"X-Amz-Signature" not in cached

    # A repeated confirm (a retry after a lost answer) answers the same image; profile
    # images do not count against the storage quota.
    again = await data_of(await confirm(client, artist, "avatar", ticket))
    assert await download(again["url"]) == PNG
    assert (await artist_row(artist.artist_id))["avatar_url"] == key
    assert await StorageQuota.count() == 0


async def test_a_new_avatar_replaces_the_old_object(client: Client) -> None:
    artist = await new_artist(client)
    storage = client.app[keys.STORAGE]
    first = await upload(client, artist, "avatar", PNG)
    await data_of(await confirm(client, artist, "avatar", first))
    second = await upload(client, artist, "avatar", JPEG, content_type="image/jpeg")
    image = await data_of(await confirm(client, artist, "avatar", second))

    assert await download(image["url"]) == JPEG
    first_key = f"profiles/{artist.artist_id}/avatar-{first['upload_id'].replace('-', '')}.png"
    second_key = f"profiles/{artist.artist_id}/avatar-{second['upload_id'].replace('-', '')}.jpg"
    assert (await artist_row(artist.artist_id))["avatar_url"] == second_key
    assert await storage.stat(first_key) is None
    # The first upload is no avatar any more: confirming it again finds nothing.
    again = await confirm(client, artist, "avatar", first)
    assert again.status == 404
    assert (await error_of(again))["field"] == "upload_id"


async def test_a_pdf_declared_as_a_png_is_refused_and_deleted(client: Client) -> None:
    artist = await new_artist(client)
    storage = client.app[keys.STORAGE]
    ticket = await upload(client, artist, "avatar", PDF)
    key = ticket["fields"]["key"]
    assert await storage.stat(key) is not None

    response = await confirm(client, artist, "avatar", ticket)

    assert response.status == 400
    error = await error_of(response)
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "file")
    assert await storage.stat(key) is None
    assert await PendingUpload.count() == 0
    assert (await artist_row(artist.artist_id))["avatar_url"] is None


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        pytest.param(
            {"content_type": "application/pdf", "size_bytes": 1000}, 400, "content_type", id="pdf"
        ),
        pytest.param(
            {"content_type": "audio/mpeg", "size_bytes": 1000}, 400, "content_type", id="audio"
        ),
        pytest.param(
            {"content_type": "image/png", "size_bytes": 10 * 1024 * 1024 + 1},
            413,
            "size_bytes",
            id="over 10 MB",
        ),
        pytest.param({"content_type": "image/png", "size_bytes": 0}, 400, "size_bytes", id="empty"),
        pytest.param({"content_type": "image/png"}, 400, "size_bytes", id="no size"),
        pytest.param(
            {"content_type": "image/png", "size_bytes": 10, "key": "x"}, 400, "key", id="extra"
        ),
    ],
)
async def test_bad_image_uploads_are_refused_before_anything_is_signed(
    client: Client, body: dict[str, Any], status: int, field: str
) -> None:
    artist = await new_artist(client)
    response = await client.post("/v1/profile/avatar", json=body, headers=artist.headers)
    assert response.status == status
    assert (await error_of(response))["field"] == field
    assert await PendingUpload.count() == 0


async def test_only_artists_upload_profile_images(client: Client) -> None:
    venue = await new_user(client, role="venue", onboarding_complete=True)
    body = {"content_type": "image/png", "size_bytes": 100}
    assert (await client.post("/v1/profile/banner", json=body, headers=venue.headers)).status == 403
    assert (await client.post("/v1/profile/banner", json=body)).status == 401


async def test_a_banner_goes_the_same_way(client: Client) -> None:
    artist = await new_artist(client)
    ticket = await upload(client, artist, "banner", JPEG, content_type="image/jpeg")
    # An avatar confirm cannot take a banner upload.
    assert (await confirm(client, artist, "avatar", ticket)).status == 404
    image = await data_of(await confirm(client, artist, "banner", ticket))
    assert await download(image["url"]) == JPEG
    row = await artist_row(artist.artist_id)
    assert row["banner_url"].startswith(f"profiles/{artist.artist_id}/banner-")
    assert row["avatar_url"] is None
    completion = await data_of(await client.get("/v1/profile/completion", headers=artist.headers))
    assert "banner" not in completion["missing"]
