"""The 5-second poll: `since`, ETag and 304 without Postgres, and never a stale answer."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import ClientResponse
from redis.asyncio import Redis

from tests.conftest import Servers, start_client
from tests.messaging.chat import (
    Client,
    artist,
    clear_of_an_etag_window_edge,
    data_of,
    inbox,
    postgres_refusing,
    read,
    send,
    start,
    venue,
)
from tests.metrics import sample
from tests.workers import eventually, in_process_worker
from umbrella import keys
from umbrella.app import create_app
from umbrella.config import Settings
from umbrella.devstack import DevStack
from umbrella.messaging import cache as inbox_cache
from umbrella.messaging.cache import INBOX_TTL_SECONDS, inbox_key
from umbrella.messaging.tables import InboxVersion


@pytest.fixture(autouse=True)
async def _not_across_an_etag_window() -> None:
    """These tests expect 304s from one poll to the next: keep them inside one ETag window."""
    await clear_of_an_etag_window_edge()


async def poll(
    client: Client, headers: dict[str, str], etag: str | None = None, **params: Any
) -> ClientResponse:
    """One poll: the response (its status tells 200 from 304)."""
    sent = dict(headers)
    if etag is not None:
        sent["If-None-Match"] = etag
    return await client.get("/v1/conversations", params=params, headers=sent)


async def version_of(user_id: Any) -> int:
    row = (
        await InboxVersion.select(InboxVersion.version)
        .where(InboxVersion.user_id == user_id)
        .first()
    )
    return 0 if row is None else int(row["version"])


async def test_since_returns_only_what_changed_and_the_next_since(client: Client) -> None:
    me = await artist(client, "Me")
    a, b, c = [await artist(client, name) for name in ("Ada", "Bo", "Cy")]
    ids = {}
    for other in (a, b, c):
        ids[other.user_id] = (await start(client, me, other))["id"]
    first = await inbox(client, me)
    assert len(first["items"]) == 3
    since = first["since"]

    nothing = await inbox(client, me, since=since)
    assert nothing == {"items": [], "next_cursor": None, "since": since, "has_more": False}

    await send(client, b, ids[b.user_id], "new from Bo")
    changed = await inbox(client, me, since=since)
    assert [item["id"] for item in changed["items"]] == [ids[b.user_id]]
    assert changed["items"][0]["unread_count"] == 1
    assert changed["since"] != since
    since = changed["since"]
    assert (await inbox(client, me, since=since))["items"] == []

    # My own message and my read are changes to my inbox too.
    await send(client, me, ids[a.user_id], "to Ada")
    await read(client, me, ids[b.user_id])
    await send(client, c, ids[c.user_id], "from Cy")
    # More changes than `limit`: oldest change first, and has_more says to ask again.
    part = await inbox(client, me, since=since, limit=2)
    assert [item["id"] for item in part["items"]] == [ids[a.user_id], ids[b.user_id]]
    assert part["items"][1]["unread_count"] == 0
    assert part["has_more"] is True
    rest = await inbox(client, me, since=part["since"], limit=2)
    assert [item["id"] for item in rest["items"]] == [ids[c.user_id]]
    assert rest["has_more"] is False
    assert (await inbox(client, me, since=rest["since"]))["items"] == []
    # Someone else's activity is not a change of mine.
    await start(client, a, b)
    assert (await inbox(client, me, since=rest["since"]))["items"] == []

    forged = await client.get("/v1/conversations", params={"since": "1"}, headers=me.headers)
    assert forged.status == 400
    assert (await forged.json())["error"]["field"] == "since"


async def test_an_etag_per_user_and_per_query_and_304_until_something_changes(
    client: Client,
) -> None:
    luna, anchor = await artist(client, "Luna"), await venue(client, "Anchor")
    cid = (await start(client, luna, anchor))["id"]
    await send(client, luna, cid, "hello")

    first = await poll(client, anchor.headers)
    assert first.status == 200
    etag = first.headers["ETag"]
    assert etag.startswith('W/"')
    assert first.headers["Cache-Control"] == "private, no-cache"
    again = await poll(client, anchor.headers, etag)
    assert again.status == 304
    assert again.headers["ETag"] == etag
    assert await again.read() == b""

    # Per user: the other participant, same state, gets another tag and no 304 with this one.
    theirs = await poll(client, luna.headers, etag)
    assert theirs.status == 200
    assert theirs.headers["ETag"] != etag
    # Per query: every parameter counts.
    since = (await data_of(first))["since"]
    tags = {etag}
    for params in ({"limit": 5}, {"since": since}, {"since": since, "limit": 5}):
        response = await poll(client, anchor.headers, etag, **params)
        assert response.status == 200, params
        tags.add(response.headers["ETag"])
        assert (
            await poll(client, anchor.headers, response.headers["ETag"], **params)
        ).status == 304
    assert len(tags) == 4
    # A list of tags and the wildcard are understood.
    assert (await poll(client, anchor.headers, f'W/"nope", {etag}')).status == 304

    # Each kind of change ends the 304s: a message either way, a read, a new conversation.
    await send(client, luna, cid, "are you there?")
    changed = await poll(client, anchor.headers, etag)
    assert changed.status == 200
    assert (await data_of(changed))["items"][0]["unread_count"] == 2
    for change in ("read", "reply", "new conversation"):
        etag = (await poll(client, anchor.headers)).headers["ETag"]
        if change == "read":
            await read(client, anchor, cid)
        elif change == "reply":
            await send(client, anchor, cid, "yes")
        else:
            await start(client, await artist(client, "Newcomer"), anchor)
        assert (await poll(client, anchor.headers, etag)).status == 200, change


async def test_an_idle_poll_is_answered_without_a_postgres_query(
    client: Client, settings: Settings, servers: Servers
) -> None:
    luna, anchor = await artist(client, "Luna"), await venue(client, "Anchor")
    cid = (await start(client, luna, anchor))["id"]
    await send(client, luna, cid, "hello")
    listed = await poll(client, anchor.headers)
    since = (await data_of(listed))["since"]
    polled = await poll(client, anchor.headers, since=since)
    etag = polled.headers["ETag"]
    metrics = client.app[keys.METRICS]
    hits = sample(metrics, "umbrella_cache_requests_total", cache="inbox", result="hit")

    # The database now refuses every connection and its open ones are cut: a request that
    # queries it fails. The idle polls still get their answers.
    async with postgres_refusing(servers, settings.database_url):
        for _ in range(3):
            idle = await poll(client, anchor.headers, etag, since=since)
            assert idle.status == 304
            assert idle.headers["ETag"] == etag
        # Without the ETag, a poll whose `since` is current is answered from Redis too.
        fresh = await poll(client, anchor.headers, since=since)
        assert (await data_of(fresh))["items"] == []
        assert (
            sample(metrics, "umbrella_cache_requests_total", cache="inbox", result="hit")
            == hits + 4
        )
        # The proof can fail: anything that needs Postgres does fail meanwhile.
        needs_postgres = await client.get(f"/v1/conversations/{cid}", headers=anchor.headers)
        # (a database refusing connections is no outage code knows: 500, not 503)
        assert needs_postgres.status in (500, 503)
        whole_list = await poll(client, anchor.headers)
        assert whole_list.status in (500, 503)

    # And once it is back, the next change shows.
    await send(client, luna, cid, "still there?")
    assert (await poll(client, anchor.headers, etag, since=since)).status == 200


async def test_with_redis_down_polls_are_answered_from_postgres_never_stale(
    settings: Settings, own_redis: DevStack
) -> None:
    client = await start_client(
        create_app(settings.model_copy(update={"redis_url": own_redis.endpoints.redis_url}))
    )
    try:
        luna, anchor = await artist(client, "Luna"), await venue(client, "Anchor")
        cid = (await start(client, luna, anchor))["id"]
        etag = (await poll(client, anchor.headers)).headers["ETag"]
        own_redis.processes["redis"].stop()

        # Unchanged: still a 304, the version read from Postgres.
        assert (await poll(client, anchor.headers, etag)).status == 304
        # A message sent while Redis is down changes the answer at once.
        await send(client, luna, cid, "hello while redis sleeps")
        changed = await poll(client, anchor.headers, etag)
        assert changed.status == 200
        assert (await data_of(changed))["items"][0]["unread_count"] == 1
        assert (await poll(client, anchor.headers, changed.headers["ETag"])).status == 304
        metrics = client.app[keys.METRICS]
        assert sample(metrics, "umbrella_cache_requests_total", cache="inbox", result="error")
    finally:
        await client.close()


async def test_a_bump_lost_with_redis_is_repaired_by_its_job(
    settings: Settings, own_redis: DevStack
) -> None:
    configured = settings.model_copy(update={"redis_url": own_redis.endpoints.redis_url})
    client = await start_client(create_app(configured))
    redis = Redis.from_url(str(own_redis.endpoints.redis_url))
    try:
        luna, anchor = await artist(client, "Luna"), await venue(client, "Anchor")
        cid = (await start(client, luna, anchor))["id"]
        etag = (await poll(client, anchor.headers)).headers["ETag"]
        old = await redis.get(inbox_key(anchor.user_id))
        assert old is not None
        assert 0 < await redis.ttl(inbox_key(anchor.user_id)) <= INBOX_TTL_SECONDS

        # The send commits while Redis is unreachable: its write to Redis is lost…
        own_redis.processes["redis"].stop()
        await send(client, luna, cid, "lost in transit")
        own_redis.restart("redis")
        await redis.aclose()  # its connection died with the server
        redis = Redis.from_url(str(own_redis.endpoints.redis_url))
        # …and Redis comes back holding the old version (as one only cut off would).
        await redis.set(inbox_key(anchor.user_id), old, ex=INBOX_TTL_SECONDS)
        assert int(old) < await version_of(anchor.user_id)
        # That stale copy would answer 304 (at most until it expires, INBOX_TTL_SECONDS)…
        assert (await poll(client, anchor.headers, etag)).status == 304

        # …but the job queued with the message copies the version from Postgres.
        async with in_process_worker(configured):

            async def changed() -> bool:
                return (await poll(client, anchor.headers, etag)).status == 200

            await eventually(changed, what="the lost bump reached Redis")
        assert int(await redis.get(inbox_key(anchor.user_id)) or 0) == await version_of(
            anchor.user_id
        )
    finally:
        await redis.aclose()
        await client.close()


async def test_a_copy_never_moves_back_and_expires(client: Client, redis_client: Redis) -> None:
    luna, anchor = await artist(client, "Luna"), await venue(client, "Anchor")
    cid = (await start(client, luna, anchor))["id"]
    await send(client, luna, cid, "one")
    current = await version_of(anchor.user_id)
    key = inbox_key(anchor.user_id)
    assert int(await redis_client.get(key) or 0) == current
    assert 0 < await redis_client.ttl(key) <= INBOX_TTL_SECONDS

    # A late writer holding an older version (a poll that read Postgres just before the
    # commit) cannot pull the copy back.
    await inbox_cache.store(redis_client, {anchor.user_id: current - 1})
    assert int(await redis_client.get(key) or 0) == current

    # A poll that misses refills it from Postgres.
    await redis_client.delete(key)
    await poll(client, anchor.headers)
    assert int(await redis_client.get(key) or 0) == current
    metrics = client.app[keys.METRICS]
    assert sample(metrics, "umbrella_cache_requests_total", cache="inbox", result="miss") >= 1


async def test_a_deleted_account_leaves_the_others_list_at_once_in_postgres(
    client: Client, redis_client: Redis
) -> None:
    luna, anchor = await artist(client, "Luna"), await venue(client, "Anchor")
    cid = (await start(client, luna, anchor))["id"]
    await send(client, anchor, cid, "see you")
    before = await version_of(luna.user_id)
    etag = (await poll(client, luna.headers)).headers["ETag"]

    deleted = await client.delete(
        "/v1/settings/account", json={"confirm": "DELETE"}, headers=anchor.headers
    )
    assert deleted.status == 200, await deleted.text()
    assert await version_of(luna.user_id) == before + 1
    # Redis learns it when its copy expires (at most a minute); expire it now.
    await redis_client.delete(inbox_key(luna.user_id))
    gone = await poll(client, luna.headers, etag)
    assert gone.status == 200
    assert (await data_of(gone))["items"] == []
