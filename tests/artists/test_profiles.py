"""Profiles: own and public reads, updates with validation, completion, the Redis cache."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

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
from tests.conftest import start_client
from tests.factories import bearer_for, make_artist, make_user
from tests.metrics import sample
from umbrella import keys
from umbrella.app import create_app
from umbrella.artists.schemas import PUBLIC_FIELDS
from umbrella.artists.service import COMPLETION_WEIGHTS
from umbrella.artists.tables import Artist
from umbrella.config import Settings
from umbrella.devstack import DevStack
from umbrella.portfolio.tables import Track

# Exactly what anyone may read (docs/profiles.md). Never: email, phone, legal_name,
# total_earnings, profile_views, the six self-assessment answers, user_id.
EXPECTED_PUBLIC_FIELDS = {
    "id",
    "stage_name",
    "pronouns",
    "city",
    "state",
    "country",
    "bio",
    "story",
    "tagline",
    "primary_genre",
    "secondary_genres",
    "influences",
    "performance_types",
    "equipment",
    "daw",
    "platforms",
    "flat_rate",
    "hourly_rate",
    "rates_negotiable",
    "travel_radius_miles",
    "available_weekdays",
    "available_weekends",
    "advance_booking_weeks",
    "years_performing",
    "biggest_gig",
    "dream_collaboration",
    "website_url",
    "instagram_url",
    "tiktok_url",
    "youtube_url",
    "spotify_url",
    "apple_music_url",
    "soundcloud_url",
    "bandcamp_url",
    "facebook_url",
    "twitter_url",
    "verified",
    "avatar_url",
    "banner_url",
    "avg_rating",
    "total_reviews",
    "total_gigs",
    "follower_count",
    "created_at",
}
PRIVATE_FIELDS = {
    "user_id",
    "timezone",  # fan texts' quiet hours fall back to it (docs/broadcasts.md)
    "email",
    "phone",
    "legal_name",
    "makes_music",
    "confident_online",
    "struggles_niche",
    "knows_gig_sources",
    "paid_fairly",
    "understands_royalties",
    "total_earnings",
    "profile_views",
    "onboarding_complete",
    "updated_at",
}
SECRET_EMAIL = "luna.private@example.com"
SECRET_PHONE = "+15125550199"
SECRET_LEGAL_NAME = "Luna Maria Secretname"
SECRET_EARNINGS = Decimal("98765.43")
SECRET_VALUES = (SECRET_EMAIL, SECRET_PHONE, SECRET_LEGAL_NAME, str(SECRET_EARNINGS))


async def private_artist(client: Client) -> SignedInArtist:
    """An artist whose private fields hold values a leak would show."""
    user_id = await make_user(email=SECRET_EMAIL, phone=SECRET_PHONE, onboarding_complete=True)
    _, artist_id = await make_artist(
        user_id=user_id,
        legal_name=SECRET_LEGAL_NAME,
        total_earnings=SECRET_EARNINGS,
        makes_music=True,
        paid_fairly=False,
        flat_rate=Decimal("300.00"),
        profile_views=77,
    )
    headers = await bearer_for(client.app, user_id)
    return SignedInArtist(user_id=user_id, headers=headers, artist_id=artist_id)


async def test_the_public_profile_lists_exactly_the_public_fields(client: Client) -> None:
    artist = await private_artist(client)
    viewer = await new_user(client, role="venue", onboarding_complete=True)
    assert set(PUBLIC_FIELDS) == EXPECTED_PUBLIC_FIELDS
    for headers in ({}, viewer.headers, artist.headers):
        response = await client.get(f"/v1/profile/{artist.artist_id}", headers=headers)
        text = await response.text()
        profile = await data_of(response)
        assert set(profile) == EXPECTED_PUBLIC_FIELDS
        for secret in SECRET_VALUES:
            assert secret not in text
        assert profile["flat_rate"] == "300.00"  # D-077: venues see rates


async def test_the_own_profile_has_every_field(client: Client) -> None:
    artist = await private_artist(client)
    profile = await data_of(await client.get("/v1/profile", headers=artist.headers))
    assert set(profile) == EXPECTED_PUBLIC_FIELDS | PRIVATE_FIELDS
    assert profile["email"] == SECRET_EMAIL
    assert profile["phone"] == SECRET_PHONE
    assert profile["legal_name"] == SECRET_LEGAL_NAME
    assert profile["total_earnings"] == "98765.43"
    assert profile["makes_music"] is True
    assert profile["paid_fairly"] is False
    assert profile["profile_views"] == 77
    # Served again from the cache, the same document comes back.
    assert await data_of(await client.get("/v1/profile", headers=artist.headers)) == profile


async def test_unknown_unfinished_and_malformed_profiles(client: Client) -> None:
    missing = await client.get("/v1/profile/00000000-0000-4000-8000-000000000000")
    assert missing.status == 404
    assert (await error_of(missing))["code"] == "NOT_FOUND"
    malformed = await client.get("/v1/profile/not-a-uuid")
    assert malformed.status == 400
    assert (await error_of(malformed))["field"] == "artist_id"
    # A profile becomes public when onboarding completes.
    user_id = await make_user(onboarding_complete=False)
    _, artist_id = await make_artist(user_id=user_id)
    assert (await client.get(f"/v1/profile/{artist_id}")).status == 404
    own = await client.get("/v1/profile", headers=await bearer_for(client.app, user_id))
    assert own.status == 200


async def test_who_has_an_own_profile(client: Client) -> None:
    assert (await client.get("/v1/profile")).status == 401
    venue = await new_user(client, role="venue", onboarding_complete=True)
    assert (await client.get("/v1/profile", headers=venue.headers)).status == 403
    newcomer = await new_user(client)
    response = await client.get("/v1/profile", headers=newcomer.headers)
    assert response.status == 404
    error = await error_of(response)
    # The web app sends an artist without a profile to onboarding step 1 on this field.
    assert (error["code"], error["field"]) == ("NOT_FOUND", "onboarding")
    assert "onboarding" in error["message"]


async def test_an_update_changes_only_what_is_sent(client: Client) -> None:
    artist = await new_artist(client, tagline="Old tagline", city="Austin")
    changes = {
        "tagline": "  New tagline  ",
        "city": None,
        "secondary_genres": ["jazz", "soul"],
        "hourly_rate": 95.5,
        "website_url": "https://lunavega.example/",
        "instagram_url": "",
        "makes_music": True,
    }
    profile = await data_of(await client.put("/v1/profile", json=changes, headers=artist.headers))
    assert profile["tagline"] == "New tagline"
    assert profile["city"] is None
    assert profile["secondary_genres"] == ["jazz", "soul"]
    assert profile["hourly_rate"] == "95.50"
    assert profile["website_url"] == "https://lunavega.example/"
    assert profile["instagram_url"] is None
    assert profile["stage_name"] == "Luna Vega"  # not sent, unchanged
    row = await artist_row(artist.artist_id)
    assert (row["tagline"], row["city"], row["makes_music"]) == ("New tagline", None, True)


BAD_UPDATES = [
    pytest.param({"stage_name": "x" * 101}, "stage_name", id="101-char stage name"),
    pytest.param({"stage_name": None}, "stage_name", id="stage name cleared"),
    pytest.param({"hourly_rate": -0.01}, "hourly_rate", id="negative rate"),
    pytest.param({"flat_rate": 10**9}, "flat_rate", id="absurd rate"),
    pytest.param({"website_url": "javascript:alert(1)"}, "website_url", id="script URL"),
    pytest.param({"spotify_url": "ftp://files.example"}, "spotify_url", id="ftp URL"),
    pytest.param({"youtube_url": "https://"}, "youtube_url", id="URL without host"),
    pytest.param({"bandcamp_url": "https://a.example/" + "p" * 500}, "bandcamp_url", id="long"),
    pytest.param({"primary_genre": "polka_metal"}, "primary_genre", id="unknown genre"),
    pytest.param({"influences": None}, "influences", id="list cleared with null"),
    pytest.param({"rates_negotiable": None}, "rates_negotiable", id="boolean cleared"),
    pytest.param({"user_id": "00000000-0000-4000-8000-000000000000"}, "user_id", id="owner"),
    pytest.param({"verified": True}, "verified", id="verified is not editable"),
    pytest.param({"total_earnings": 1}, "total_earnings", id="earnings are not editable"),
    pytest.param({}, "body", id="nothing to change"),
]


@pytest.mark.parametrize(("body", "field"), BAD_UPDATES)
async def test_invalid_updates_are_refused_and_nothing_is_written(
    client: Client, body: dict[str, Any], field: str
) -> None:
    artist = await new_artist(client)
    before = await artist_row(artist.artist_id)
    response = await client.put("/v1/profile", json=body, headers=artist.headers)
    assert response.status == 400
    error = await error_of(response)
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", field)
    assert await artist_row(artist.artist_id) == before


async def test_only_ever_your_own_profile_is_editable(client: Client) -> None:
    mine = await new_artist(client)
    theirs = await new_artist(client, stage_name="Someone Else")
    before = await artist_row(theirs.artist_id)
    # There is no route that edits a profile by id …
    by_id = await client.put(
        f"/v1/profile/{theirs.artist_id}", json={"bio": "hijacked"}, headers=mine.headers
    )
    assert by_id.status == 405
    # … and the caller's own route edits the caller's own row only.
    assert (
        await client.put("/v1/profile", json={"bio": "mine"}, headers=mine.headers)
    ).status == 200
    assert await artist_row(theirs.artist_id) == before
    venue = await new_user(client, role="venue", onboarding_complete=True)
    refused = await client.put("/v1/profile", json={"bio": "x"}, headers=venue.headers)
    assert refused.status == 403
    assert (await client.put("/v1/profile", json={"bio": "x"})).status == 401


async def test_completion_follows_the_documented_weights(client: Client) -> None:
    assert sum(weight for _, weight, _ in COMPLETION_WEIGHTS) == 100
    artist = await new_artist(client)
    bare = await data_of(await client.get("/v1/profile/completion", headers=artist.headers))
    # A bare profile has only its stage name (5).
    assert bare["percentage"] == 5
    assert bare["missing"][:3] == ["avatar", "bio", "primary_genre"]
    await client.put(
        "/v1/profile",
        json={"bio": "Songs.", "primary_genre": "folk", "instagram_url": "https://ig.example/l"},
        headers=artist.headers,
    )
    await Track.insert(Track(artist_id=artist.artist_id, title="First single"))
    fuller = await data_of(await client.get("/v1/profile/completion", headers=artist.headers))
    assert fuller["percentage"] == 5 + 10 + 10 + 5 + 5
    assert "bio" not in fuller["missing"]
    assert "tracks" not in fuller["missing"]
    done = {item["name"]: item["done"] for item in fuller["items"]}
    assert done["social_links"] is True
    assert done["avatar"] is False


async def test_profile_reads_are_cached_and_every_update_invalidates(
    client: Client, redis_client: Redis
) -> None:
    artist = await new_artist(client, bio="First bio")
    metrics = client.app[keys.METRICS]
    url = f"/v1/profile/{artist.artist_id}"
    assert (await data_of(await client.get(url)))["bio"] == "First bio"
    assert await redis_client.exists(f"profile:{artist.artist_id}")
    hits = sample(metrics, "umbrella_cache_requests_total", cache="profile", result="hit")

    # A write behind the service's back is not seen: the read came from Redis.
    await Artist.update({Artist.bio: "Changed in the database"}).where(
        Artist.id == artist.artist_id
    )
    assert (await data_of(await client.get(url)))["bio"] == "First bio"
    assert sample(metrics, "umbrella_cache_requests_total", cache="profile", result="hit") == (
        hits + 1
    )

    # An update through the API drops the cached copy at once (and queues the durable purge).
    await client.put("/v1/profile", json={"tagline": "Fresh"}, headers=artist.headers)
    fresh = await data_of(await client.get(url))
    assert (fresh["bio"], fresh["tagline"]) == ("Changed in the database", "Fresh")
    purges = await client.app[keys.DB].run_ddl(
        "SELECT 1 FROM pgqueuer WHERE entrypoint = 'purge_profile_cache'"
    )
    assert len(purges) == 1
    ttl = await redis_client.ttl(f"profile:{artist.artist_id}")
    assert 3500 < ttl <= 3600


async def test_profiles_are_served_from_postgres_while_redis_is_down(
    settings: Settings, own_redis: DevStack
) -> None:
    app = create_app(settings.model_copy(update={"redis_url": own_redis.endpoints.redis_url}))
    client = await start_client(app)
    try:
        artist = await new_artist(client, bio="Still here")
        viewer = await new_user(client)
        own_redis.processes["redis"].stop()

        public = await client.get(f"/v1/profile/{artist.artist_id}", headers=viewer.headers)
        assert (await data_of(public))["bio"] == "Still here"
        own = await client.get("/v1/profile", headers=artist.headers)
        assert (await data_of(own))["bio"] == "Still here"
        updated = await client.put("/v1/profile", json={"bio": "Edited"}, headers=artist.headers)
        assert (await data_of(updated))["bio"] == "Edited"
        again = await client.get(f"/v1/profile/{artist.artist_id}")
        assert (await data_of(again))["bio"] == "Edited"

        metrics = app[keys.METRICS]
        assert sample(metrics, "umbrella_cache_requests_total", cache="profile", result="error")
        # The views could not be counted; the reads did not fail for it.
        assert (
            sample(metrics, "umbrella_cache_requests_total", cache="profile_views", result="error")
            == 2
        )
    finally:
        await client.close()


async def test_an_artist_without_reviews_has_no_rating_anywhere(client: Client) -> None:
    fresh = await new_artist(client, stage_name="Fresh Face")
    _, rated = await make_artist(stage_name="Rated", avg_rating=Decimal("4.50"), total_reviews=2)
    own = await data_of(await client.get("/v1/profile", headers=fresh.headers))
    assert (own["avg_rating"], own["total_reviews"]) == (None, 0)
    for path in (f"/v1/profile/{fresh.artist_id}", f"/v1/artists/{fresh.artist_id}"):
        shown = await data_of(await client.get(path))
        assert (shown["avg_rating"], shown["total_reviews"]) == (None, 0), path
    assert (await data_of(await client.get(f"/v1/artists/{rated}")))["avg_rating"] == "4.50"
    cards = {
        card["stage_name"]: card["avg_rating"]
        for card in (await data_of(await client.get("/v1/artists")))["items"]
    }
    assert (cards["Fresh Face"], cards["Rated"]) == (None, "4.50")
