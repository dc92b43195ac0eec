"""`umbrella seed`: demo data a developer can click through, consistent and safe to re-run."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.conftest import run_umbrella, subprocess_env
from tests.factories import bearer_for
from umbrella import keys
from umbrella.artists.tables import Artist
from umbrella.follows.tables import ArtistFollower
from umbrella.reviews.tables import Review
from umbrella.seed import REVIEWS, demo_id

Client = TestClient[web.Request, web.Application]


async def test_seed_twice_gives_the_same_consistent_showcase(client: Client) -> None:
    env = subprocess_env(client.app[keys.SETTINGS])
    first = await run_umbrella("seed", env=env)
    again = await run_umbrella("seed", env=env)
    assert first.code == again.code == 0, first.stderr
    assert "3 applications, 1 conversation, 3 tracks, 3 reviews" in first.stdout
    assert "3 tracks, 3 reviews" in again.stdout
    assert await Review.count() == len(REVIEWS)

    # Every artist's totals equal its rows, as the product keeps them.
    for artist in await Artist.select(
        Artist.id, Artist.follower_count, Artist.total_reviews, Artist.avg_rating
    ):
        followers = await ArtistFollower.count().where(ArtistFollower.artist_id == artist["id"])
        ratings = [
            row["rating"]
            for row in await Review.select(Review.rating).where(Review.artist_id == artist["id"])
        ]
        assert artist["follower_count"] == followers
        assert artist["total_reviews"] == len(ratings)
        expected = round(sum(ratings) / len(ratings), 2) if ratings else 0
        assert float(artist["avg_rating"]) == expected

    luna = demo_id("artist:luna")
    profile = (await (await client.get(f"/v1/profile/{luna}")).json())["data"]
    assert (profile["total_reviews"], float(profile["avg_rating"]), profile["follower_count"]) == (
        2,
        4.5,
        2,
    )
    portfolio = (await (await client.get(f"/v1/profile/{luna}/portfolio")).json())["data"]
    assert [track["title"] for track in portfolio["tracks"]] == ["Desert Lights", "Early Risers"]
    reviews = (await (await client.get(f"/v1/profile/{luna}/reviews")).json())["data"]
    assert len(reviews["items"]) == 2

    # A demo venue has applications to answer; the gig three days out is urgent (D-010).
    bluebird = await bearer_for(client.app, demo_id("user:bluebird"))
    friday = demo_id("gig:friday-folk")
    response = await client.get(f"/v1/gigs/{friday}/applications", headers=bluebird)
    applicants = (await response.json())["data"]["items"]
    assert sorted(item["profile"]["stage_name"] for item in applicants) == [
        "Luna Vega",
        "Rosa & The Pines",
    ]
    gig = (await (await client.get(f"/v1/gigs/{friday}", headers=bluebird)).json())["data"]
    assert (gig["urgency_flag"], gig["pending_applications"]) == (True, 2)


async def test_seed_with_counts_loads_a_dataset_of_that_size(client: Client) -> None:
    from umbrella.gigs.tables import Gig
    from umbrella.messaging.tables import Message

    env = subprocess_env(client.app[keys.SETTINGS])
    result = await run_umbrella(
        "seed", "--artists", "40", "--gigs", "300", "--messages", "200", env=env
    )
    assert result.code == 0, result.stderr
    assert "gigs" in result.stdout
    assert await Artist.count() == 40
    assert await Gig.count() == 300
    assert await Message.count() == 200
    production = await run_umbrella(
        "seed", "--artists", "1", env={**env, "UMBRELLA_ENV": "production"}
    )
    assert production.code == 2
    assert "production" in production.stderr
    impossible = await run_umbrella("seed", "--messages", "10", env=env)
    assert impossible.code == 2
    assert "conversations need two artists" in impossible.stderr
    assert "Traceback" not in impossible.stderr
    assert await Artist.count() == 40
