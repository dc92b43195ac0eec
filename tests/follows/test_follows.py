"""Follows as fans and artists live them: follow, unfollow, exact counts, who follows whom."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from uuid import UUID

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from tests.factories import bearer_for, make_artist, make_user
from umbrella.artists.tables import Artist
from umbrella.follows.tables import ArtistFollower

Client = TestClient[web.Request, web.Application]


async def error_of(response: aiohttp.ClientResponse) -> dict[str, Any]:
    error: dict[str, Any] = (await response.json())["error"]
    return error


async def follower_count(artist_id: UUID) -> int:
    row = await Artist.select(Artist.follower_count).where(Artist.id == artist_id).first()
    assert row is not None
    return int(row["follower_count"])


async def follow_state(response: aiohttp.ClientResponse) -> tuple[int, bool, int]:
    data = (await response.json())["data"]
    return response.status, data["following"], data["follower_count"]


async def test_follow_and_unfollow_are_idempotent(client: Client, redis_client: Redis) -> None:
    _, artist_id = await make_artist()
    fan = await bearer_for(client.app, await make_user(role="venue"))
    path = f"/v1/artists/{artist_id}/follow"
    key = f"profile:{artist_id}"

    await redis_client.set(key, "{}")
    assert await follow_state(await client.post(path, headers=fan)) == (200, True, 1)
    assert not await redis_client.exists(key)
    assert await follow_state(await client.post(path, headers=fan)) == (200, True, 1)
    assert await ArtistFollower.count() == 1

    await redis_client.set(key, "{}")
    assert await follow_state(await client.delete(path, headers=fan)) == (200, False, 0)
    assert not await redis_client.exists(key)
    assert await follow_state(await client.delete(path, headers=fan)) == (200, False, 0)
    assert await ArtistFollower.count() == 0
    assert await follower_count(artist_id) == 0


async def test_no_following_yourself_an_unknown_artist_or_anonymously(client: Client) -> None:
    user_id, artist_id = await make_artist()
    me = await bearer_for(client.app, user_id)

    for method in (client.post, client.delete):
        yourself = await method(f"/v1/artists/{artist_id}/follow", headers=me)
        assert yourself.status == 400
        error = await error_of(yourself)
        assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "artist_id")
        unknown = await method(f"/v1/artists/{uuid.uuid4()}/follow", headers=me)
        assert unknown.status == 404
        assert (await error_of(unknown))["field"] == "artist_id"
        anonymous = await method(f"/v1/artists/{artist_id}/follow")
        assert anonymous.status == 401
        not_an_id = await method("/v1/artists/not-an-id/follow", headers=me)
        assert not_an_id.status == 400
    assert await ArtistFollower.count() == 0
    assert await follower_count(artist_id) == 0


async def test_counts_stay_exact_under_concurrent_follows(client: Client) -> None:
    _, artist_id = await make_artist()
    fans = [await bearer_for(client.app, await make_user()) for _ in range(20)]
    path = f"/v1/artists/{artist_id}/follow"

    # every fan follows twice at once: 40 requests, 20 follows
    answers = await asyncio.gather(*[client.post(path, headers=fan) for fan in fans * 2])
    assert [answer.status for answer in answers] == [200] * 40
    assert await follower_count(artist_id) == 20
    assert await ArtistFollower.count() == 20
    assert max([(await answer.json())["data"]["follower_count"] for answer in answers]) == 20

    # half unfollow twice while the others follow again
    await asyncio.gather(
        *[client.delete(path, headers=fan) for fan in fans[:10] * 2],
        *[client.post(path, headers=fan) for fan in fans[10:]],
    )
    assert await follower_count(artist_id) == 10
    assert await ArtistFollower.count() == 10


async def test_followers_are_public_newest_first_and_show_no_emails(client: Client) -> None:
    _, artist_id = await make_artist(stage_name="Luna Vega")
    fan_artist_user, fan_artist = await make_artist(stage_name="Echo", email="echo@example.com")
    await client.post(
        f"/v1/artists/{artist_id}/follow", headers=await bearer_for(client.app, fan_artist_user)
    )
    for _ in range(24):
        fan = await bearer_for(client.app, await make_user(email=f"{uuid.uuid4().hex}@example.com"))
        assert (await client.post(f"/v1/artists/{artist_id}/follow", headers=fan)).status == 200

    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 10} | ({"cursor": cursor} if cursor else {})
        response = await client.get(f"/v1/artists/{artist_id}/followers", params=params)
        assert response.status == 200
        assert "@example.com" not in await response.text()
        page = (await response.json())["data"]
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == 25
    assert [item["followed_at"] for item in seen] == sorted(
        [item["followed_at"] for item in seen], reverse=True
    )
    # the first follower is the artist, listed last, with their profile
    assert seen[-1] == {
        "display_name": "Test User",
        "artist_id": str(fan_artist),
        "stage_name": "Echo",
        "followed_at": seen[-1]["followed_at"],
    }
    assert all(item["artist_id"] is None for item in seen[:-1])

    unknown = await client.get(f"/v1/artists/{uuid.uuid4()}/followers")
    assert unknown.status == 404
    too_many = await client.get(f"/v1/artists/{artist_id}/followers", params={"limit": 101})
    assert (too_many.status, (await error_of(too_many))["field"]) == (400, "limit")


async def test_following_lists_the_callers_artists_newest_first(client: Client) -> None:
    artists = [await make_artist(stage_name=f"Artist {n}") for n in range(3)]
    me = await bearer_for(client.app, await make_user())
    for _, artist_id in artists:
        await client.post(f"/v1/artists/{artist_id}/follow", headers=me)
    someone_else = await bearer_for(client.app, await make_user())
    await client.post(f"/v1/artists/{artists[0][1]}/follow", headers=someone_else)

    first = await client.get("/v1/following", params={"limit": 2}, headers=me)
    page = (await first.json())["data"]
    second = await client.get(
        "/v1/following", params={"limit": 2, "cursor": page["next_cursor"]}, headers=me
    )
    rest = (await second.json())["data"]

    names = [item["stage_name"] for item in page["items"] + rest["items"]]
    assert names == ["Artist 2", "Artist 1", "Artist 0"]
    assert rest["next_cursor"] is None
    assert (await client.get("/v1/following")).status == 401
    other = await client.get("/v1/following", headers=someone_else)
    assert [i["stage_name"] for i in (await other.json())["data"]["items"]] == ["Artist 0"]
