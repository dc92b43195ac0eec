"""Artist discovery: `GET /v1/artists` (filters, pages, public cards) and `/v1/artists/{id}`."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.factories import bearer_for, make_artist, make_user
from tests.search.world import Client, artist, data_of, error_of, unfinished_artist
from umbrella.artists.schemas import PUBLIC_FIELDS
from umbrella.artists.tables import Artist


async def list_names(client: Client, query: str = "") -> list[str]:
    """Stage names of every page of `GET /v1/artists?{query}`, following the cursors."""
    seen: list[str] = []
    cursor = None
    for _ in range(50):
        suffix = f"&cursor={cursor}" if cursor else ""
        page = await data_of(await client.get(f"/v1/artists?{query}{suffix}"))
        seen += [card["stage_name"] for card in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen
    raise AssertionError("the pages never ended")


async def test_the_list_pages_newest_first_without_repeats_and_without_signing_in(
    client: Client,
) -> None:
    created = [await artist(f"Artist {number}") for number in range(7)]
    await unfinished_artist("Half Done")

    first = await data_of(await client.get("/v1/artists", params={"limit": 3}))
    assert [card["id"] for card in first["items"]] == [str(i) for i in reversed(created[-3:])]

    assert await list_names(client, "limit=3") == [f"Artist {n}" for n in reversed(range(7))]
    assert await list_names(client, "limit=7") == [f"Artist {n}" for n in reversed(range(7))]
    # An artist who joins mid-scroll does not shift what the next pages show.
    second = await data_of(
        await client.get("/v1/artists", params={"limit": 3, "cursor": first["next_cursor"]})
    )
    await artist("Latecomer")
    third = await data_of(
        await client.get("/v1/artists", params={"limit": 3, "cursor": second["next_cursor"]})
    )
    assert [card["stage_name"] for card in second["items"] + third["items"]] == [
        f"Artist {n}" for n in (3, 2, 1, 0)
    ]


async def test_filters_by_genre_location_and_verified(client: Client) -> None:
    await artist("Jazz Austin", primary_genre="jazz", city="Austin", state="TX", verified=True)
    await artist("Rock Austin", primary_genre="rock", city="Austin", state="TX")
    await artist(
        "Soul Denver", primary_genre="soul", secondary_genres=["jazz"], city="Denver", state="CO"
    )
    await artist("Folk Houston", primary_genre="folk", city="Houston", state="TX", verified=True)

    assert set(await list_names(client, "genre=jazz")) == {"Jazz Austin", "Soul Denver"}
    assert set(await list_names(client, "genre=jazz&genre=folk")) == {
        "Jazz Austin",
        "Soul Denver",
        "Folk Houston",
    }
    assert set(await list_names(client, "location=austin")) == {"Jazz Austin", "Rock Austin"}
    assert set(await list_names(client, "location=%20tx%20")) == {
        "Jazz Austin",
        "Rock Austin",
        "Folk Houston",
    }
    assert await list_names(client, "location=Aus") == []  # a whole city, not a prefix
    assert set(await list_names(client, "verified=true")) == {"Jazz Austin", "Folk Houston"}
    assert set(await list_names(client, "verified=false")) == {"Rock Austin", "Soul Denver"}
    combined = urlencode({"genre": "jazz", "location": "TX", "verified": "true"})
    assert await list_names(client, combined) == ["Jazz Austin"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("genre=polka", "genre"),
        ("genre=jazz&genre=polka", "genre"),
        ("location=" + "x" * 101, "location"),
        ("verified=perhaps", "verified"),
        ("limit=101", "limit"),
        ("cursor=forged", "cursor"),
    ],
)
async def test_invalid_filters_are_refused_naming_the_parameter(
    client: Client, query: str, field: str
) -> None:
    error = await error_of(await client.get(f"/v1/artists?{query}"), 400)
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", field)


async def test_cards_show_public_fields_only(client: Client) -> None:
    _, artist_id = await make_artist(
        stage_name="Card Shark",
        email="card.shark@example.com",
        legal_name="Carla Dawn Shark",
        total_earnings=Decimal("86420975.00"),
        profile_views=192837465,
        avatar_url="profiles/card-shark/avatar.jpg",
        tagline="Sleight of hand",
    )
    await Artist.raw(
        "UPDATE users SET phone = '+15125550123' FROM artists"
        " WHERE artists.user_id = users.id AND artists.id = {}",
        artist_id,
    )

    response = await client.get("/v1/artists")
    text = await response.text()
    card: dict[str, Any] = (await data_of(response))["items"][0]

    assert set(card) <= set(PUBLIC_FIELDS)
    assert card["tagline"] == "Sleight of hand"
    for secret in ("card.shark@example.com", "Carla", "5550123", "86420975", "192837465"):
        assert secret not in text
    # the stored key became a download link
    assert card["avatar_url"].startswith("http")
    assert "avatar.jpg" in card["avatar_url"]
    assert "X-Amz-Signature" in card["avatar_url"]


async def test_an_artist_by_id_is_the_public_profile(client: Client) -> None:
    _, artist_id = await make_artist(
        stage_name="Mirror Ball", bio="Disco revival.", legal_name="Secret Name"
    )
    viewer = await bearer_for(client.app, await make_user(onboarding_complete=True))

    by_artists = await data_of(await client.get(f"/v1/artists/{artist_id}"))
    by_profile = await data_of(await client.get(f"/v1/profile/{artist_id}", headers=viewer))

    assert by_artists == by_profile
    assert by_artists["bio"] == "Disco revival."
    assert set(by_artists) == set(PUBLIC_FIELDS)
    assert "Secret Name" not in str(by_artists)


async def test_unknown_unfinished_or_malformed_artists_are_not_found(client: Client) -> None:
    unfinished = await unfinished_artist("Not Yet")

    for artist_id in (uuid.uuid4(), unfinished):
        error = await error_of(await client.get(f"/v1/artists/{artist_id}"), 404)
        assert error["code"] == "NOT_FOUND"
    malformed = await error_of(await client.get("/v1/artists/not-an-id"), 400)
    assert malformed["field"] == "artist_id"


async def test_the_follow_routes_under_an_artist_still_answer(client: Client) -> None:
    _, artist_id = await make_artist(stage_name="Followed")
    fan = await bearer_for(client.app, await make_user(onboarding_complete=True))

    followed = await data_of(await client.post(f"/v1/artists/{artist_id}/follow", headers=fan))
    assert followed["following"] is True
    followers = await data_of(await client.get(f"/v1/artists/{artist_id}/followers"))
    assert len(followers["items"]) == 1
    card = (await data_of(await client.get("/v1/artists")))["items"][0]
    assert card["follower_count"] == 1
