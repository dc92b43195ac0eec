"""The portfolio as an artist and their listeners live it: upload, list, edit, reorder, delete."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from tests.factories import bearer_for, make_artist, make_user
from tests.uploads import PNG
from umbrella import keys
from umbrella.portfolio.schemas import MAX_TRACKS
from umbrella.portfolio.tables import Track
from umbrella.storage.tables import PendingUpload, StorageQuota

Client = TestClient[web.Request, web.Application]

# Enough of each format for the content sniffing of the upload flow.
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x0f" + b"\xff\xfb\x90\x64" + bytes(range(256)) * 8
WAV = b"RIFF\x24\x08\x00\x00WAVEfmt " + b"\x10\x00\x00\x00\x01\x00\x01\x00" + bytes(2048)
FLAC = b"fLaC\x00\x00\x00\x22" + bytes(range(256)) * 4
SPOTIFY = "https://open.spotify.com/track/4uLU6hMCjMI75M1A2tKUQC"


async def artist_session(
    client: Client, stage_name: str = "Luna Vega"
) -> tuple[UUID, dict[str, str]]:
    user_id, artist_id = await make_artist(stage_name=stage_name)
    return artist_id, await bearer_for(client.app, user_id)


async def upload_ticket(
    client: Client, headers: dict[str, str], body: bytes, content_type: str, name: str
) -> dict[str, Any]:
    response = await client.post(
        "/v1/profile/tracks/upload",
        json={"content_type": content_type, "size_bytes": len(body), "filename": name},
        headers=headers,
    )
    assert response.status == 201, await response.text()
    ticket: dict[str, Any] = (await response.json())["data"]
    return ticket


async def browser_post(ticket: dict[str, Any], body: bytes) -> None:
    """Upload as a browser does: every signed field first, the file last."""
    form = aiohttp.FormData()
    for name, value in ticket["fields"].items():
        form.add_field(name, value)
    form.add_field("file", body, filename="upload.bin", content_type="application/octet-stream")
    async with aiohttp.ClientSession() as browser, browser.post(ticket["url"], data=form) as sent:
        assert sent.status in {200, 201, 204}, await sent.text()


async def uploaded_track(
    client: Client,
    headers: dict[str, str],
    body: bytes = MP3,
    content_type: str = "audio/mpeg",
    title: str = "Night Drive",
) -> dict[str, Any]:
    ticket = await upload_ticket(client, headers, body, content_type, "night-drive")
    await browser_post(ticket, body)
    response = await client.post(
        "/v1/profile/tracks",
        json={"title": title, "genre": "electronic", "upload_id": ticket["upload_id"]},
        headers=headers,
    )
    assert response.status == 201, await response.text()
    track: dict[str, Any] = (await response.json())["data"]
    assert track["id"] == ticket["track_id"]
    return track


async def link_track(client: Client, headers: dict[str, str], title: str) -> dict[str, Any]:
    response = await client.post(
        "/v1/profile/tracks", json={"title": title, "spotify_url": SPOTIFY}, headers=headers
    )
    assert response.status == 201, await response.text()
    track: dict[str, Any] = (await response.json())["data"]
    return track


async def error_of(response: aiohttp.ClientResponse) -> dict[str, Any]:
    error: dict[str, Any] = (await response.json())["error"]
    return error


async def used_bytes(artist_id: UUID) -> int:
    row = await StorageQuota.select().where(StorageQuota.artist_id == artist_id).first()
    return 0 if row is None else int(row["used_bytes"])


async def portfolio_titles(client: Client, artist_id: UUID) -> list[str]:
    response = await client.get(f"/v1/profile/{artist_id}/portfolio")
    assert response.status == 200
    return [track["title"] for track in (await response.json())["data"]["tracks"]]


@pytest.mark.parametrize(
    ("body", "content_type", "extension"),
    [(MP3, "audio/mpeg", "mp3"), (WAV, "audio/wav", "wav"), (FLAC, "audio/flac", "flac")],
)
async def test_an_uploaded_track_is_listed_with_a_working_audio_link(
    client: Client, body: bytes, content_type: str, extension: str
) -> None:
    artist_id, headers = await artist_session(client)

    track = await uploaded_track(client, headers, body, content_type)

    assert track["has_audio"] is True
    assert track["mime_type"] == content_type
    assert track["size_bytes"] == len(body)
    assert track["display_order"] == 0
    row = await Track.select(Track.file_key).where(Track.id == UUID(track["id"])).first()
    assert row == {"file_key": f"tracks/{artist_id}/{track['id']}.{extension}"}
    assert await used_bytes(artist_id) == len(body)
    assert await PendingUpload.count() == 0  # the upload was consumed

    # anyone can see the portfolio, and the audio link downloads the very file
    listed = await client.get(f"/v1/profile/{artist_id}/portfolio")
    data = (await listed.json())["data"]
    assert data["max_tracks"] == MAX_TRACKS
    assert [t["id"] for t in data["tracks"]] == [track["id"]]
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(data["tracks"][0]["audio_url"]) as audio,
    ):
        assert audio.status == 200
        assert await audio.read() == body


async def test_a_file_that_is_not_the_audio_it_claims_is_refused_and_deleted(
    client: Client,
) -> None:
    artist_id, headers = await artist_session(client)
    ticket = await upload_ticket(client, headers, PNG, "audio/mpeg", "song.mp3")
    await browser_post(ticket, PNG)  # the store checks the declared type, not the bytes
    storage = client.app[keys.STORAGE]
    key = ticket["fields"]["key"]
    assert await storage.stat(key) is not None

    response = await client.post(
        "/v1/profile/tracks",
        json={"title": "Fake", "upload_id": ticket["upload_id"]},
        headers=headers,
    )

    assert response.status == 400
    error = await error_of(response)
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "file")
    assert await storage.stat(key) is None
    assert await storage.stat(f"tracks/{artist_id}/{ticket['track_id']}.mp3") is None
    assert await Track.count() == 0
    assert await PendingUpload.count() == 0
    assert await used_bytes(artist_id) == 0


async def test_only_audio_within_the_size_limit_gets_an_upload_url(client: Client) -> None:
    _, headers = await artist_session(client)
    cases = [
        ({"content_type": "image/png", "size_bytes": 100}, 400, "content_type"),
        ({"content_type": "video/mp4", "size_bytes": 100}, 400, "content_type"),
        ({"content_type": "audio/mpeg", "size_bytes": 50 * 1024 * 1024 + 1}, 413, "size_bytes"),
        ({"content_type": "audio/mpeg", "size_bytes": 0}, 400, "size_bytes"),
        ({"content_type": "audio/mpeg", "size_bytes": 10, "extra": 1}, 400, "extra"),
    ]
    for body, status, field in cases:
        response = await client.post("/v1/profile/tracks/upload", json=body, headers=headers)
        assert response.status == status, body
        assert (await error_of(response))["field"] == field
    assert await PendingUpload.count() == 0


async def test_the_quota_is_checked_before_the_url_and_enforced_at_confirm(
    client: Client,
) -> None:
    artist_id, headers = await artist_session(client)
    now = datetime.now(UTC)
    await StorageQuota.insert(
        StorageQuota(artist_id=artist_id, used_bytes=0, limit_bytes=len(MP3) - 1, updated_at=now)
    )

    response = await client.post(
        "/v1/profile/tracks/upload",
        json={"content_type": "audio/mpeg", "size_bytes": len(MP3)},
        headers=headers,
    )
    assert response.status == 400
    error = await error_of(response)
    assert (error["code"], error["field"]) == ("QUOTA_EXCEEDED", "size_bytes")
    assert await PendingUpload.count() == 0

    # room when the URL is issued, none any more at confirm: the reservation is atomic
    await StorageQuota.update({StorageQuota.limit_bytes: 10 * len(MP3)}).where(
        StorageQuota.artist_id == artist_id
    )
    ticket = await upload_ticket(client, headers, MP3, "audio/mpeg", "song.mp3")
    await browser_post(ticket, MP3)
    await StorageQuota.update({StorageQuota.used_bytes: 10 * len(MP3) - 1}).where(
        StorageQuota.artist_id == artist_id
    )
    response = await client.post(
        "/v1/profile/tracks",
        json={"title": "Too much", "upload_id": ticket["upload_id"]},
        headers=headers,
    )
    assert response.status == 400
    assert (await error_of(response))["code"] == "QUOTA_EXCEEDED"
    assert await Track.count() == 0
    assert await used_bytes(artist_id) == 10 * len(MP3) - 1
    assert await PendingUpload.count() == 1  # kept: usable once space is freed, else cleaned up


async def test_bad_track_input_writes_nothing(client: Client) -> None:
    _, headers = await artist_session(client)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"title": "No audio, no link"}, "upload_id"),
        ({"title": "x" * 201, "spotify_url": SPOTIFY}, "title"),
        ({"title": "   ", "spotify_url": SPOTIFY}, "title"),
        ({"title": "Song", "genre": "polka-metal", "spotify_url": SPOTIFY}, "genre"),
        ({"title": "Song", "duration_seconds": -1, "spotify_url": SPOTIFY}, "duration_seconds"),
        ({"title": "Song", "spotify_url": "http://open.spotify.com/track/1"}, "spotify_url"),
        ({"title": "Song", "spotify_url": "https://evil.example.com/track/1"}, "spotify_url"),
        ({"title": "Song", "apple_music_url": SPOTIFY}, "apple_music_url"),
        ({"title": "Song", "soundcloud_url": "javascript:alert(1)"}, "soundcloud_url"),
        ({"title": "Song", "upload_id": str(uuid.uuid4())}, "upload_id"),
        ({"title": "Song", "spotify_url": SPOTIFY, "play_count": 99}, "play_count"),
    ]
    for body, field in cases:
        response = await client.post("/v1/profile/tracks", json=body, headers=headers)
        assert response.status in {400, 404}, body
        assert (await error_of(response))["field"] == field, body
    assert await Track.count() == 0


async def test_streaming_links_of_each_service_are_accepted(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    response = await client.post(
        "/v1/profile/tracks",
        json={
            "title": "  Everywhere  ",
            "genre": "hip_hop",
            "duration_seconds": 201,
            "spotify_url": SPOTIFY,
            "apple_music_url": "https://music.apple.com/us/album/x/123?i=456",
            "soundcloud_url": "https://soundcloud.com/luna/everywhere",
        },
        headers=headers,
    )
    assert response.status == 201
    track = (await response.json())["data"]
    assert track["title"] == "Everywhere"
    assert track["has_audio"] is False
    assert track["audio_url"] is None
    assert track["soundcloud_url"] == "https://soundcloud.com/luna/everywhere"
    assert await portfolio_titles(client, artist_id) == ["Everywhere"]


async def test_only_artists_have_a_portfolio(client: Client) -> None:
    venue = await make_user(role="venue", onboarding_complete=True)
    headers = await bearer_for(client.app, venue)
    for path, body in [
        ("/v1/profile/tracks", {"title": "Song", "spotify_url": SPOTIFY}),
        ("/v1/profile/tracks/upload", {"content_type": "audio/mpeg", "size_bytes": 10}),
    ]:
        response = await client.post(path, json=body, headers=headers)
        assert response.status == 403
        assert (await error_of(response))["code"] == "FORBIDDEN"
        anonymous = await client.post(path, json=body)
        assert anonymous.status == 401
    unknown = await client.get(f"/v1/profile/{uuid.uuid4()}/portfolio")
    assert unknown.status == 404
    assert (await error_of(unknown))["field"] == "artist_id"


async def test_reorder_sets_the_display_order_and_refuses_anything_but_all_tracks(
    client: Client,
) -> None:
    artist_id, headers = await artist_session(client)
    a, b, c = [(await link_track(client, headers, title))["id"] for title in "ABC"]
    other_id, other_headers = await artist_session(client, "Other")
    foreign = (await link_track(client, other_headers, "Foreign"))["id"]
    assert await portfolio_titles(client, artist_id) == ["A", "B", "C"]

    response = await client.put(
        "/v1/profile/tracks/order", json={"track_ids": [c, a, b]}, headers=headers
    )
    assert response.status == 200
    assert [t["title"] for t in (await response.json())["data"]["tracks"]] == ["C", "A", "B"]
    assert await portfolio_titles(client, artist_id) == ["C", "A", "B"]

    for wrong in ([c, a], [c, a, b, b], [c, a, foreign], [c, a, b, foreign], []):
        response = await client.put(
            "/v1/profile/tracks/order", json={"track_ids": wrong}, headers=headers
        )
        assert response.status == 400
        assert (await error_of(response))["field"] == "track_ids"
    assert await portfolio_titles(client, artist_id) == ["C", "A", "B"]
    assert await portfolio_titles(client, other_id) == ["Foreign"]

    # a new track goes to the end
    await link_track(client, headers, "D")
    assert await portfolio_titles(client, artist_id) == ["C", "A", "B", "D"]


async def test_edit_changes_only_what_is_sent_and_keeps_a_track_playable(
    client: Client,
) -> None:
    _, headers = await artist_session(client)
    track = await link_track(client, headers, "Draft")
    _, other_headers = await artist_session(client, "Other")

    response = await client.put(
        f"/v1/profile/tracks/{track['id']}",
        json={"title": "Final", "genre": "soul", "soundcloud_url": "https://on.soundcloud.com/x"},
        headers=headers,
    )
    assert response.status == 200
    edited = (await response.json())["data"]
    assert (edited["title"], edited["genre"], edited["spotify_url"]) == ("Final", "soul", SPOTIFY)
    assert edited["soundcloud_url"] == "https://on.soundcloud.com/x"

    response = await client.put(
        f"/v1/profile/tracks/{track['id']}",
        json={"spotify_url": None, "soundcloud_url": None},
        headers=headers,
    )
    assert response.status == 400
    assert (await error_of(response))["field"] == "spotify_url"
    for body, field in [({"title": None}, "title"), ({"genre": "nope"}, "genre")]:
        response = await client.put(f"/v1/profile/tracks/{track['id']}", json=body, headers=headers)
        assert response.status == 400
        assert (await error_of(response))["field"] == field

    response = await client.put(
        f"/v1/profile/tracks/{track['id']}", json={"title": "Stolen"}, headers=other_headers
    )
    assert response.status == 404
    assert (await error_of(response))["field"] == "track_id"
    row = await Track.select(Track.title, Track.spotify_url).where(Track.id == UUID(track["id"]))
    assert row == [{"title": "Final", "spotify_url": SPOTIFY}]


async def test_delete_frees_the_quota_and_the_object(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    track = await uploaded_track(client, headers)
    key = f"tracks/{artist_id}/{track['id']}.mp3"
    storage = client.app[keys.STORAGE]
    _, other_headers = await artist_session(client, "Other")

    response = await client.delete(f"/v1/profile/tracks/{track['id']}", headers=other_headers)
    assert response.status == 404
    assert await storage.stat(key) is not None

    response = await client.delete(f"/v1/profile/tracks/{track['id']}", headers=headers)
    assert response.status == 200
    assert (await response.json())["data"] == {"deleted": True}
    assert await Track.count() == 0
    assert await used_bytes(artist_id) == 0
    assert await storage.stat(key) is None
    again = await client.delete(f"/v1/profile/tracks/{track['id']}", headers=headers)
    assert again.status == 404


async def test_plays_are_counted_by_anyone_once_per_listener(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    track = await link_track(client, headers, "Hit")
    play = f"/v1/profile/{artist_id}/tracks/{track['id']}/play"
    listeners = [await bearer_for(client.app, await make_user()) for _ in range(10)]

    # Ten listeners, each pressing play twice at once, plus an anonymous one three times.
    answers = await asyncio.gather(
        *[client.post(play, headers=who) for who in listeners * 2],
        *[client.post(play) for _ in range(3)],
    )
    assert all(answer.status == 200 for answer in answers)
    row = await Track.select(Track.play_count).where(Track.id == UUID(track["id"])).first()
    assert row == {"play_count": 11}
    wrong_artist = await client.post(f"/v1/profile/{uuid.uuid4()}/tracks/{track['id']}/play")
    assert wrong_artist.status == 404
    assert (await error_of(wrong_artist))["field"] == "track_id"


async def test_a_portfolio_holds_at_most_50_tracks(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    now = datetime.now(UTC)
    await Track.insert(
        *[
            Track(
                artist_id=artist_id,
                title=f"Track {n}",
                spotify_url=SPOTIFY,
                display_order=n,
                created_at=now,
                updated_at=now,
            )
            for n in range(MAX_TRACKS)
        ]
    )
    response = await client.post(
        "/v1/profile/tracks", json={"title": "One more", "spotify_url": SPOTIFY}, headers=headers
    )
    assert response.status == 400
    response = await client.post(
        "/v1/profile/tracks/upload",
        json={"content_type": "audio/mpeg", "size_bytes": 100},
        headers=headers,
    )
    assert response.status == 400
    assert await Track.count() == MAX_TRACKS
    assert len(await portfolio_titles(client, artist_id)) == MAX_TRACKS


async def test_every_change_purges_the_cached_profile(client: Client, redis_client: Redis) -> None:
    artist_id, headers = await artist_session(client)
    key = f"profile:{artist_id}"

    async def cached_then(change: Any) -> None:
        await redis_client.set(key, "{}")
        response = await change
        assert response.status in {200, 201}, await response.text()
        assert not await redis_client.exists(key)

    await cached_then(
        client.post(
            "/v1/profile/tracks", json={"title": "A", "spotify_url": SPOTIFY}, headers=headers
        )
    )
    track = (await (await client.get(f"/v1/profile/{artist_id}/portfolio")).json())["data"]
    first = track["tracks"][0]["id"]
    await cached_then(
        client.put(f"/v1/profile/tracks/{first}", json={"title": "B"}, headers=headers)
    )
    await cached_then(
        client.put("/v1/profile/tracks/order", json={"track_ids": [first]}, headers=headers)
    )
    await cached_then(client.delete(f"/v1/profile/tracks/{first}", headers=headers))

    # plays do not purge: the cached count may lag by up to the hour the cache lives
    second = await link_track(client, headers, "C")
    await redis_client.set(key, "{}")
    await client.post(f"/v1/profile/{artist_id}/tracks/{second['id']}/play")
    assert await redis_client.exists(key)
