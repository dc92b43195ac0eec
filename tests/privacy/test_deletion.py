"""`DELETE /v1/settings/account` (D-102): everything of the user goes, everyone else stays right."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from tests.conftest import start_client
from tests.factories import bearer_for, make_artist
from tests.privacy.world import (
    build_world,
    count_rows,
    keys_under,
    object_exists,
    put_object,
    reachable_rows,
    sql,
    still_there,
)
from tests.workers import eventually, in_process_worker
from umbrella import keys
from umbrella.accounts.service import cache_key, hash_token
from umbrella.app import create_app
from umbrella.artists.cache import profile_key
from umbrella.config import Settings
from umbrella.devstack import DevStack
from umbrella.privacy import service

Client = TestClient[web.Request, web.Application]
CONFIRM = {"confirm": "DELETE"}


async def jobs(client: Client) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await client.app[keys.DB].run_ddl(
        "SELECT entrypoint, status::text AS status, attempts, execute_after > now() AS later,"
        " convert_from(payload, 'UTF8') AS payload FROM pgqueuer ORDER BY id"
    )
    return [{**row, "payload": json.loads(row["payload"])} for row in rows]


async def artist_numbers(artist_id: UUID | None) -> tuple[int, Decimal, int]:
    [row] = await sql(
        "SELECT follower_count, avg_rating, total_reviews FROM artists WHERE id = {}", artist_id
    )
    return row["follower_count"], row["avg_rating"], row["total_reviews"]


async def gig_slots(gig_id: UUID) -> tuple[int, str]:
    [row] = await sql("SELECT filled_slots, status FROM gigs WHERE id = {}", gig_id)
    return row["filled_slots"], row["status"]


async def own_rows_left(person: Any) -> dict[str, int]:
    """How many of a person's own rows still exist, per table (by each table's key)."""
    key_of = {"sessions": "token_hash", "storage_quotas": "artist_id"}
    key_of |= {"profile_view_counts": "artist_id", "broadcast_lists": "broadcast_id"}
    key_of |= {"track_play_counts": "artist_id"}
    return {
        table: await count_rows(table, key_of.get(table, "id"), ids)
        for table, ids in person.own.items()
    }


def everything(person: Any) -> dict[str, int]:
    return {table: len(ids) for table, ids in person.own.items()}


async def test_an_artist_leaves_with_everything_they_own_and_others_stay_right(
    client: Client, settings: Settings, redis_client: Redis
) -> None:
    store = client.app[keys.STORAGE]
    world = await build_world(client.app, store)
    s, o, v = world.s, world.o, world.v
    reached = await reachable_rows(s.user_id)
    assert set(reached) >= {"sessions", "messages", "broadcast_deliveries", "venue_reviews"}
    token_hash = hash_token(s.headers["Authorization"].removeprefix("Bearer "))
    assert await redis_client.exists(cache_key(token_hash))
    assert await artist_numbers(o.artist_id) == (2, Decimal("3.00"), 3)
    assert o.artist_id is not None
    await redis_client.set(profile_key(o.artist_id), "{}")

    response = await client.delete("/v1/settings/account", json=CONFIRM, headers=s.headers)
    assert response.status == 200, await response.text()
    assert (await response.json())["data"] == {"deleted": True, "objects_cleanup": "queued"}
    cookie = response.cookies[settings.session_cookie_name]
    assert cookie.value == ""

    # Nothing that was the user's, or pointed at something of theirs, is left anywhere.
    assert await still_there(reached) == {}
    # Everyone else's rows are all there, and their numbers match what is left.
    assert await own_rows_left(o) == everything(o)
    assert await count_rows("users", "id", {str(v.user_id)}) == 1
    # O lost a follower (S) and S's 1-star review: (3 + 5) / 2 left.
    assert await artist_numbers(o.artist_id) == (1, Decimal("4.00"), 2)
    assert await gig_slots(world.gigs["g1"]) == (1, "open")  # was filled by S and O
    assert await gig_slots(world.gigs["g2"]) == (2, "completed")  # history stays
    assert await gig_slots(world.gigs["g3"]) == (0, "open")
    assert await gig_slots(world.gigs[f"own-{o.user_id}"]) == (0, "open")
    assert not await redis_client.exists(profile_key(o.artist_id))

    # The token is refused at once; its Redis copy is gone.
    assert not await redis_client.exists(cache_key(token_hash))
    for path in ("/v1/settings", "/v1/settings/export", "/v1/auth/session"):
        assert (await client.get(path, headers=s.headers)).status == 401
    assert (await client.get("/v1/settings", headers=o.headers)).status == 200

    queued = await jobs(client)
    names = [job["entrypoint"] for job in queued]
    assert names.count("delete_objects") == 2  # now, and after the last upload could land
    cleanup = [job for job in queued if job["entrypoint"] == "delete_objects"]
    assert [job["later"] for job in cleanup] == [False, True]
    assert sorted(cleanup[0]["payload"]["prefixes"]) == sorted(
        [
            f"profiles/{s.artist_id}/",
            f"tracks/{s.artist_id}/",
            f"media/{s.artist_id}/",
            f"files/{s.artist_id}/",
            *[f"attachments/{c}/" for c in {*s.own["conversations"], world.shared_conversation}],
        ]
    )
    # Keys outside those folders: an old layout's, and what an upload form wrote.
    uploaded = [f"uploads/{upload_id}.jpg" for upload_id in s.own["pending_uploads"]]
    assert sorted(cleanup[0]["payload"]["keys"]) == sorted(
        [f"legacy/{s.artist_id}/old.pdf", *uploaded]
    )
    assert "purge_session_cache" in names

    for key in s.objects:
        assert await object_exists(store, key), key
    async with in_process_worker(settings, store=store):
        await eventually(lambda: _all_gone(store, s.objects), what="S's objects deleted")
    for prefix in cleanup[0]["payload"]["prefixes"]:
        assert await keys_under(store, prefix) == [], prefix
    assert o.objects
    for key in o.objects:
        assert await object_exists(store, key), key


async def _all_gone(store: Any, objects: list[str]) -> bool:
    return not [key for key in objects if await object_exists(store, key)]


async def test_a_venue_leaves_and_the_artists_it_rated_and_booked_are_put_right(
    client: Client, settings: Settings
) -> None:
    """Through the service, as an operator command would call it."""
    world = await build_world(client.app, client.app[keys.STORAGE])
    s, o, v = world.s, world.o, world.v
    reached = await reachable_rows(v.user_id)
    assert {"gigs", "gig_applications", "reviews"} <= set(reached)

    deletion = await service.delete_account(user_id=v.user_id, redis=client.app[keys.REDIS])

    assert deletion.artist_id is None
    assert deletion.sessions_revoked == 1
    assert set(deletion.profiles_changed) == {s.artist_id, o.artist_id}
    assert await still_there(reached) == {}
    # V followed both and gave both 5 stars on g2.
    assert await artist_numbers(s.artist_id) == (1, Decimal("3.50"), 2)  # O's 4, the fan's 3
    assert await artist_numbers(o.artist_id) == (1, Decimal("2.00"), 2)  # S's 1, the fan's 3
    # The artists' gigs and applications to each other stay.
    assert await gig_slots(world.gigs[f"own-{s.user_id}"]) == (1, "open")
    conversations = await sql("SELECT id FROM conversations")
    assert [row["id"] for row in conversations] == [world.shared_conversation]
    assert (await client.get("/v1/settings", headers=v.headers)).status == 401
    assert (await client.get("/v1/settings", headers=s.headers)).status == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"confirm": "delete"}, "confirm"),
        ({"confirm": "yes"}, "confirm"),
        ({"confirm": True}, "confirm"),
        ({}, "confirm"),
        ({"confirm": "DELETE", "reason": "bye"}, "reason"),
        (None, "body"),
    ],
)
async def test_without_the_exact_confirmation_nothing_is_deleted(
    client: Client, body: dict[str, Any] | None, field: str
) -> None:
    user_id, artist_id = await make_artist()
    headers = await bearer_for(client.app, user_id)
    response = await client.delete("/v1/settings/account", json=body, headers=headers)
    assert response.status == 400
    error = (await response.json())["error"]
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", field)
    assert await count_rows("users", "id", {str(user_id)}) == 1
    assert await count_rows("artists", "id", {str(artist_id)}) == 1
    assert await jobs(client) == []
    assert (await client.get("/v1/settings", headers=headers)).status == 200


async def test_a_stale_redis_copy_of_a_session_is_refused_until_the_purge_removes_it(
    client: Client, settings: Settings, redis_client: Redis
) -> None:
    """Redis was unreachable for the inline purge and came back still holding the session."""
    user_id, _ = await make_artist()
    headers = await bearer_for(client.app, user_id)
    token_hash = hash_token(headers["Authorization"].removeprefix("Bearer "))
    cached = await redis_client.get(cache_key(token_hash))
    assert cached is not None

    response = await client.delete("/v1/settings/account", json=CONFIRM, headers=headers)
    assert response.status == 200
    await redis_client.set(cache_key(token_hash), cached)

    for method, path in (("GET", "/v1/settings"), ("GET", "/v1/settings/export")):
        assert (await client.request(method, path, headers=headers)).status == 401
    again = await client.delete("/v1/settings/account", json=CONFIRM, headers=headers)
    assert again.status == 401
    assert (await client.put("/v1/settings", json={}, headers=headers)).status == 401

    async with in_process_worker(settings, store=client.app[keys.STORAGE]):
        await eventually(
            lambda: _forgotten(redis_client, token_hash), what="the purge job forgets it"
        )


async def _forgotten(redis: Redis, token_hash: str) -> bool:
    return not await redis.exists(cache_key(token_hash))


async def test_while_s3_is_down_the_rows_go_and_the_objects_follow_when_it_is_back(
    settings: Settings, own_s3: DevStack
) -> None:
    with_s3 = settings.model_copy(
        update={"s3_endpoint": own_s3.endpoints.s3_endpoint, "s3_timeout_seconds": 1}
    )
    client = await start_client(create_app(with_s3))
    try:
        store = client.app[keys.STORAGE]
        user_id, artist_id = await make_artist()
        headers = await bearer_for(client.app, user_id)
        objects = [f"profiles/{artist_id}/avatar.jpg", f"media/{artist_id}/videos/a.mp4"]
        for key in objects:
            await put_object(store, key)

        own_s3.processes["s3"].stop()
        response = await client.delete("/v1/settings/account", json=CONFIRM, headers=headers)
        assert response.status == 200
        assert await count_rows("users", "id", {str(user_id)}) == 0
        assert await count_rows("artists", "id", {str(artist_id)}) == 0

        async with in_process_worker(with_s3, store=store):
            await eventually(lambda: _retried(client), seconds=30, what="a failed try")
            own_s3.restart("s3")
            await eventually(lambda: _all_gone(store, objects), seconds=60, what="cleanup")
            await eventually(lambda: _no_cleanup_left(client), seconds=30, what="job done")
    finally:
        await client.close()


async def _retried(client: Client) -> bool:
    return any(
        job["entrypoint"] == "delete_objects" and job["attempts"] >= 1 for job in await jobs(client)
    )


async def _no_cleanup_left(client: Client) -> bool:
    return not [job for job in await jobs(client) if job["entrypoint"] == "delete_objects"]


async def test_deleting_needs_a_session(client: Client) -> None:
    assert (await client.delete("/v1/settings/account", json=CONFIRM)).status == 401


async def test_with_redis_down_the_deletion_still_happens_and_the_token_is_refused(
    settings: Settings, own_redis: DevStack
) -> None:
    client = await start_client(
        create_app(settings.model_copy(update={"redis_url": own_redis.endpoints.redis_url}))
    )
    try:
        user_id, artist_id = await make_artist()
        headers = await bearer_for(client.app, user_id)
        own_redis.processes["redis"].stop()

        response = await client.delete("/v1/settings/account", json=CONFIRM, headers=headers)
        assert response.status == 200
        assert await count_rows("artists", "id", {str(artist_id)}) == 0
        # Sessions fall back to Postgres, where the session is gone with the user.
        assert (await client.get("/v1/settings", headers=headers)).status == 401
        names = [job["entrypoint"] for job in await jobs(client)]
        assert {"purge_session_cache", "purge_profile_cache", "delete_objects"} <= set(names)
    finally:
        await client.close()
