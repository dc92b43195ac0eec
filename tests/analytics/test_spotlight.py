"""Spotlight (D-068): up to 10 random verified artists rated above 4.5, cached for the day."""

from __future__ import annotations

import json
from decimal import Decimal
from uuid import UUID

from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from tests.factories import make_artist, make_user
from tests.search.world import data_of
from umbrella import keys
from umbrella.analytics import service
from umbrella.analytics.cron import analytics_daily
from umbrella.artists.tables import Artist
from umbrella.core.cron import CronContext

Client = TestClient[web.Request, web.Application]


async def cast() -> tuple[set[UUID], set[UUID]]:
    """12 artists who qualify, and 4 who each miss one rule."""
    stars = set()
    for n in range(12):
        _, artist_id = await make_artist(
            stage_name=f"Star {n}",
            verified=True,
            avg_rating=Decimal("4.51") + Decimal(n) / 100,
            city="Austin",
            primary_genre="indie",
        )
        stars.add(artist_id)
    others = set()
    for name, verified, rating in (
        ("Exactly 4.5", True, Decimal("4.50")),
        ("Unverified", False, Decimal("5.00")),
        ("Low", True, Decimal("3.00")),
    ):
        _, artist_id = await make_artist(stage_name=name, verified=verified, avg_rating=rating)
        others.add(artist_id)
    # Not onboarded: a profile half made is never shown.
    half = await make_user(role="artist", onboarding_complete=False)
    _, artist_id = await make_artist(
        user_id=half, stage_name="Half", verified=True, avg_rating=Decimal(5)
    )
    others.add(artist_id)
    return stars, others


async def cached(redis: Redis, key: str) -> list[UUID]:
    raw = await redis.get(key)
    assert raw is not None
    return [UUID(i) for i in json.loads(raw)]


def ids_of(spotlight: dict[str, object]) -> list[UUID]:
    artists = spotlight["artists"]
    assert isinstance(artists, list)
    return [UUID(card["id"]) for card in artists]


async def test_spotlight_is_public_verified_above_4_5_at_most_10_and_cached_for_the_day(
    client: Client, redis_client: Redis
) -> None:
    stars, _ = await cast()
    today = service.today()
    first = await data_of(await client.get("/v1/analytics/spotlight"))  # no session needed
    assert first["date"] == today.isoformat()
    picked = ids_of(first)
    assert len(picked) == 10
    assert len(set(picked)) == 10
    assert set(picked) <= stars
    card = first["artists"][0]
    assert {"stage_name", "avatar_url", "primary_genre", "city", "avg_rating"} <= set(card)
    assert not {"email", "phone", "total_earnings", "legal_name"} & set(card)

    key = f"spotlight:{today.isoformat()}"
    assert await cached(redis_client, key) == picked
    assert 86_000 < await redis_client.ttl(key) <= 86_400
    # The same all day.
    assert ids_of(await data_of(await client.get("/v1/analytics/spotlight"))) == picked

    # A lost key is picked again (and cached again).
    await redis_client.delete(key)
    again = ids_of(await data_of(await client.get("/v1/analytics/spotlight")))
    assert len(again) == 10
    assert set(again) <= stars
    assert await cached(redis_client, key) == again


async def test_the_daily_job_picks_the_spotlight_of_the_day(
    client: Client, redis_client: Redis
) -> None:
    await cast()
    settings = client.app[keys.SETTINGS]
    summary = await analytics_daily(CronContext(settings=settings, redis=redis_client))
    assert "10 artists in the spotlight" in summary
    key = f"spotlight:{service.today().isoformat()}"
    picked = await cached(redis_client, key)
    assert ids_of(await data_of(await client.get("/v1/analytics/spotlight"))) == picked
    # A second run keeps the day's pick: visitors do not see it change.
    await analytics_daily(CronContext(settings=settings, redis=redis_client))
    assert await cached(redis_client, key) == picked


async def test_a_card_that_stops_qualifying_drops_out_at_once(
    client: Client, redis_client: Redis
) -> None:
    await cast()
    picked = ids_of(await data_of(await client.get("/v1/analytics/spotlight")))
    await Artist.update({Artist.verified: False}).where(Artist.id == picked[0])
    shown = ids_of(await data_of(await client.get("/v1/analytics/spotlight")))
    assert shown == picked[1:]


async def test_with_redis_down_the_spotlight_comes_from_postgres(
    client: Client, redis_client: Redis
) -> None:
    stars, _ = await cast()
    dead = Redis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.2, socket_timeout=0.2)
    try:
        spotlight = await service.get_spotlight(
            redis=dead,
            metrics=client.app[keys.METRICS],
            storage=client.app[keys.STORAGE],
            on=service.today(),
        )
        picked = [card.id for card in spotlight.artists]
        assert len(picked) == 10
        assert set(picked) <= stars
        # The job, too, runs without Redis.
        settings = client.app[keys.SETTINGS]
        assert "10 artists" in await analytics_daily(CronContext(settings=settings, redis=None))
    finally:
        await dead.aclose()


async def test_with_nobody_qualifying_the_spotlight_is_empty(client: Client) -> None:
    await make_artist(stage_name="Unrated", verified=True)
    assert ids_of(await data_of(await client.get("/v1/analytics/spotlight"))) == []
