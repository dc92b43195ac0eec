"""Profile views: counted in Redis on the read path, moved into Postgres by the cron."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from redis.asyncio import Redis

from tests.artists.conftest import Client, artist_row, data_of, new_artist, new_user
from umbrella.analytics.cron import profile_views_flush
from umbrella.analytics.tables import ProfileViewCount
from umbrella.artists.tables import Artist
from umbrella.config import Settings
from umbrella.core.cron import CronContext, all_cron_jobs


def today_key() -> str:
    return f"profile_views:{datetime.now(UTC).date().isoformat()}"


async def counts_in_postgres() -> dict[tuple[str, date], int]:
    rows = await ProfileViewCount.select(
        ProfileViewCount.artist_id, ProfileViewCount.date, ProfileViewCount.views
    )
    return {(str(row["artist_id"]), row["date"]): row["views"] for row in rows}


async def test_views_by_others_are_counted_and_flushed_into_postgres(
    client: Client, redis_client: Redis, settings: Settings
) -> None:
    artist = await new_artist(client)
    other = await new_artist(client, stage_name="Other")
    fan = await new_user(client)
    url = f"/v1/profile/{artist.artist_id}"
    # Anonymous twice (one address: a reload is not a new view), a fan twice, an artist.
    for headers in ({}, {}, fan.headers, fan.headers, other.headers):
        await data_of(await client.get(url, headers=headers))
    # The owner looking at their own page is not a view.
    await data_of(await client.get(url, headers=artist.headers))
    await data_of(await client.get(f"/v1/profile/{other.artist_id}", headers=fan.headers))

    counted = await redis_client.hgetall(today_key())
    assert counted == {str(artist.artist_id).encode(): b"3", str(other.artist_id).encode(): b"1"}
    # Nothing reached Postgres on the read path.
    assert await counts_in_postgres() == {}
    assert (await artist_row(artist.artist_id))["profile_views"] == 0

    summary = await profile_views_flush(CronContext(settings=settings, redis=redis_client))

    assert summary == "flushed 4 profile views from 1 daily hashes"
    today = datetime.now(UTC).date()
    assert await counts_in_postgres() == {
        (str(artist.artist_id), today): 3,
        (str(other.artist_id), today): 1,
    }
    assert (await artist_row(artist.artist_id))["profile_views"] == 3
    assert await redis_client.keys("profile_views*") == []
    # The owner sees the new total (the flush dropped the cached profile).
    own = await data_of(await client.get("/v1/profile", headers=artist.headers))
    assert own["profile_views"] == 3

    # More views the same day add up: a new visitor counts, the fan again within 30 min not.
    newcomer = await new_user(client)
    await client.get(url, headers=newcomer.headers)
    await client.get(url, headers=fan.headers)
    await profile_views_flush(CronContext(settings=settings, redis=redis_client))
    assert (await counts_in_postgres())[(str(artist.artist_id), today)] == 4
    assert (await artist_row(artist.artist_id))["profile_views"] == 4


async def test_a_hash_left_by_a_crashed_flush_is_finished_first(
    client: Client, redis_client: Redis, settings: Settings
) -> None:
    artist = await new_artist(client)
    gone = await new_artist(client, stage_name="Deleted Since")
    # A run renamed yesterday's hash, then died before writing it.
    await redis_client.hset(
        "profile_views_flushing:2026-03-01:deadbeef",
        mapping={str(artist.artist_id): 7, str(gone.artist_id): 2, "not-a-uuid": 1},
    )
    await redis_client.hset("profile_views:2026-03-02", mapping={str(artist.artist_id): 3})
    await Artist.delete().where(Artist.id == gone.artist_id)  # its views are dropped

    summary = await profile_views_flush(CronContext(settings=settings, redis=redis_client))

    assert summary == "flushed 10 profile views from 2 daily hashes"
    assert await counts_in_postgres() == {
        (str(artist.artist_id), date(2026, 3, 1)): 7,
        (str(artist.artist_id), date(2026, 3, 2)): 3,
    }
    assert (await artist_row(artist.artist_id))["profile_views"] == 10
    assert await redis_client.keys("profile_views*") == []


def test_the_flush_is_a_registered_cron_job_every_five_minutes() -> None:
    assert all_cron_jobs()["profile-views-flush"].schedule == "*/5 * * * *"


async def test_without_redis_the_flush_fails_loudly(settings: Settings) -> None:
    # The counts live in Redis: a run that cannot reach it must show as failed.
    with pytest.raises(RuntimeError, match="redis"):
        await profile_views_flush(CronContext(settings=settings, redis=None))
