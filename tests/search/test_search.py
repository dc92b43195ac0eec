"""Global search (D-071): ranking, typos, filters, safe input, paging, the 15-minute cache."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from redis.asyncio import Redis

from tests.conftest import start_client
from tests.factories import bearer_for, make_artist, make_user
from tests.metrics import sample
from tests.search.world import (
    Client,
    artist,
    data_of,
    error_of,
    gig,
    names,
    unfinished_artist,
    venue,
)
from umbrella import keys
from umbrella.app import create_app
from umbrella.artists.schemas import PUBLIC_FIELDS
from umbrella.artists.tables import Artist
from umbrella.config import Settings
from umbrella.core import db, search_cache
from umbrella.core.pagination import Pager
from umbrella.core.search_cache import KINDS
from umbrella.devstack import DevStack
from umbrella.gigs.tables import Gig
from umbrella.piccolo_conf import DB
from umbrella.search import service
from umbrella.search.schemas import SearchFiltersIn
from umbrella.search.service import SearchSpec, artist_hits_sql, artist_list_sql, gig_hits_sql


async def search(client: Client, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/search", params=params, headers=headers)
    page: dict[str, Any] = await data_of(response)
    return page


# -- ranking -----------------------------------------------------------------------------


async def test_a_name_match_ranks_above_a_tagline_or_bio_match(
    client: Client, signed_in: dict[str, str]
) -> None:
    await artist("Kit Harper", bio="Half my songs are about the river Meridian.")
    await artist("Ada Stone", tagline="Meridian nights, neon lights")
    await artist("Meridian", bio="Synth duo from Austin.")
    await artist("Nobody Else", bio="Nothing in common with the query.")

    page = await search(client, signed_in, q="meridian", type="artists")

    assert names(page) == ["Meridian", "Ada Stone", "Kit Harper"]
    scores = [hit["score"] for hit in page["items"]]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[1] > scores[2]
    assert page["next_cursor"] is None
    # English stemming: a plural finds the same artists.
    plural = await search(client, signed_in, q="meridians", type="artists")
    assert names(plural) == names(page)


async def test_a_typo_still_finds_the_name(client: Client, signed_in: dict[str, str]) -> None:
    await artist("Johnny Cash", bio="The man in black.")
    await artist("Jonas Brothers", bio="Pop trio.")
    venue_id = await venue()
    await gig(venue_id, "Saxophone showcase")
    # Gig typos are corrected against the word list the search-words job keeps.
    await service.refresh_gig_words(on=date.today())

    by_typo = await search(client, signed_in, q="Jonny Cahs")
    assert names(by_typo)[0] == "Johnny Cash"
    assert "Saxophone showcase" not in names(by_typo)
    # A word of the name, half typed, finds it too.
    assert "Johnny Cash" in names(await search(client, signed_in, q="johnn", type="artists"))
    assert names(await search(client, signed_in, q="saxophon showcse", type="gigs")) == [
        "Saxophone showcase"
    ]


async def test_without_type_artists_and_gigs_share_one_ranking(
    client: Client, signed_in: dict[str, str]
) -> None:
    await artist("Blue Harbor", bio="Surf rock.")
    venue_id = await venue()
    await gig(venue_id, "Blue Harbor album release", description="Live at the pier.")
    await gig(venue_id, "Open mic", description="Bring your blue harbor covers.")

    page = await search(client, signed_in, q="blue harbor")

    assert {hit["type"] for hit in page["items"]} == {"artist", "gig"}
    assert set(names(page)) == {"Blue Harbor", "Blue Harbor album release", "Open mic"}
    assert names(page)[-1] == "Open mic"  # a description match ranks last
    scores = [hit["score"] for hit in page["items"]]
    assert scores == sorted(scores, reverse=True)
    for hit in page["items"]:
        assert (hit["artist"] is None) == (hit["type"] == "gig")
        assert (hit["gig"] is None) == (hit["type"] == "artist")
    assert names(await search(client, signed_in, q="blue harbor", type="artists")) == [
        "Blue Harbor"
    ]


async def test_only_open_upcoming_gigs_and_onboarded_artists_are_found(
    client: Client, signed_in: dict[str, str]
) -> None:
    venue_id = await venue()
    await gig(venue_id, "Lantern night upcoming")
    await gig(venue_id, "Lantern night today", days_ahead=0)
    await gig(venue_id, "Lantern night last week", days_ahead=-7)
    await gig(venue_id, "Lantern night cancelled", status="cancelled")
    await gig(venue_id, "Lantern night filled", status="filled")
    await gig(venue_id, "Lantern night completed", status="completed", days_ahead=-1)
    await artist("Lantern Choir")
    await unfinished_artist("Lantern Drafts")

    page = await search(client, signed_in, q="lantern")

    assert set(names(page)) == {"Lantern night upcoming", "Lantern night today", "Lantern Choir"}


async def test_results_show_public_fields_only(client: Client, signed_in: dict[str, str]) -> None:
    _, artist_id = await make_artist(
        stage_name="Private Eyes",
        email="private.eyes@example.com",
        legal_name="Patricia Iris Eyes",
        total_earnings=Decimal("24681357.00"),
        profile_views=987654321,
        paid_fairly=False,
    )
    await Artist.raw(
        "UPDATE users SET phone = '+15125550199' FROM artists"
        " WHERE artists.user_id = users.id AND artists.id = {}",
        artist_id,
    )

    response = await client.get("/v1/search", params={"q": "private eyes"}, headers=signed_in)
    text = await response.text()
    page = await data_of(response)

    card = page["items"][0]["artist"]
    assert card["id"] == str(artist_id)
    assert set(card) <= set(PUBLIC_FIELDS)
    for secret in ("private.eyes@example.com", "Patricia", "5550199", "24681357", "987654321"):
        assert secret not in text


# -- filters -----------------------------------------------------------------------------


async def test_filters_narrow_by_genre_and_by_city_or_state(
    client: Client, signed_in: dict[str, str]
) -> None:
    await artist("Velvet Jazz Trio", primary_genre="jazz", city="Austin", state="TX")
    await artist("Velvet Rock", primary_genre="rock", city="Austin", state="TX")
    await artist(
        "Velvet Soul", primary_genre="soul", secondary_genres=["jazz"], city="Denver", state="CO"
    )
    venue_id = await venue()
    await gig(venue_id, "Velvet jazz brunch", genre="jazz", city="Austin", state="TX")
    await gig(venue_id, "Velvet rock night", genre="rock", city="Houston", state="TX")

    jazz = await search(client, signed_in, q="velvet", **{"filters[genre]": "jazz"})
    assert set(names(jazz)) == {"Velvet Jazz Trio", "Velvet Soul", "Velvet jazz brunch"}

    in_austin = await search(client, signed_in, q="velvet", **{"filters[location]": "  AUSTIN "})
    assert set(names(in_austin)) == {"Velvet Jazz Trio", "Velvet Rock", "Velvet jazz brunch"}

    in_texas = await search(
        client, signed_in, q="velvet", type="gigs", **{"filters[location]": "tx"}
    )
    assert set(names(in_texas)) == {"Velvet jazz brunch", "Velvet rock night"}

    both = await client.get(
        "/v1/search?"
        + urlencode(
            [
                ("q", "velvet"),
                ("filters[genre]", "jazz"),
                ("filters[genre]", "rock"),
                ("filters[location]", "austin"),
                ("type", "artists"),
            ]
        ),
        headers=signed_in,
    )
    assert set(names(await data_of(both))) == {"Velvet Jazz Trio", "Velvet Rock"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 500}, "q"),
        ({"q": "x" * 201}, "q"),
        ({"q": "nul\x00byte"}, "q"),
        ({"q": "jazz", "type": "venues"}, "type"),
        ({"q": "jazz", "filters[genre]": "polka"}, "filters[genre]"),
        ({"q": "jazz", "filters[location]": "x" * 101}, "filters[location]"),
        ({"q": "jazz", "filters[mood]": "happy"}, "filters[mood]"),
        ({"q": "jazz", "limit": "51"}, "limit"),
        ({"q": "jazz", "limit": "0"}, "limit"),
        ({"q": "jazz", "cursor": "not-a-cursor"}, "cursor"),
    ],
)
async def test_invalid_input_is_refused_naming_the_parameter(
    client: Client, signed_in: dict[str, str], params: dict[str, str], field: str
) -> None:
    response = await client.get("/v1/search", params=params, headers=signed_in)
    error = await error_of(response, 400)
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", field)


async def test_a_query_of_200_characters_is_accepted(
    client: Client, signed_in: dict[str, str]
) -> None:
    page = await search(client, signed_in, q="  " + "x" * 200 + "  ")
    assert page["items"] == []


async def test_search_needs_a_session(client: Client) -> None:
    error = await error_of(await client.get("/v1/search", params={"q": "jazz"}), 401)
    assert error["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize(
    "query",
    [
        "'; DROP TABLE gigs; --",
        "%",
        "_",
        "\\",
        "&|!:*()",
        "a:* & !b | (c",
        '"unclosed quote',
        "100%_off\\",
        "$1 {} %s ?",
        "<->",
    ],
)
async def test_sql_and_tsquery_metacharacters_are_plain_text(
    client: Client, signed_in: dict[str, str], query: str
) -> None:
    await artist("O'Brien & Sons", bio="100% pure folk_punk")
    venue_id = await venue()
    await gig(venue_id, "Drop table tennis night")

    page = await search(client, signed_in, q=query)

    assert {hit["type"] for hit in page["items"]} <= {"artist", "gig"}
    assert await Gig.count() == 1
    assert await Artist.count() == 1


async def test_names_with_punctuation_are_found(client: Client, signed_in: dict[str, str]) -> None:
    await artist("O'Brien & Sons")
    await artist("Someone Else")
    assert names(await search(client, signed_in, q="o'brien", type="artists")) == ["O'Brien & Sons"]


# -- paging ------------------------------------------------------------------------------


async def test_pages_of_results_never_repeat_or_skip(
    client: Client, signed_in: dict[str, str]
) -> None:
    expected = set()
    for number in range(7):
        await artist(f"Echo {number}", bio="echo " * number)
        expected.add(f"Echo {number}")
    venue_id = await venue()
    for number in range(4):
        await gig(venue_id, f"Echo night {number}")
        expected.add(f"Echo night {number}")

    seen: list[str] = []
    scores: list[float] = []
    cursor = None
    for _ in range(10):
        params: dict[str, Any] = {"q": "echo", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = await search(client, signed_in, **params)
        assert len(page["items"]) <= 3
        seen += names(page)
        scores += [hit["score"] for hit in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(expected)  # every hit once
    assert scores == sorted(scores, reverse=True)

    first = await search(client, signed_in, q="echo", limit=3)
    elsewhere = await client.get(
        "/v1/search",
        params={"q": "echo", "type": "gigs", "cursor": first["next_cursor"]},
        headers=signed_in,
    )
    assert (await error_of(elsewhere, 400))["field"] == "cursor"


async def test_a_broad_search_ranks_at_most_the_candidate_cap(client: Client) -> None:
    """Past `candidates` rows whose words match, a search stops looking (docs/search.md)."""
    venue_id = await venue()
    for number in range(8):
        # Found by words only: no title is similar to the query.
        await gig(venue_id, f"Friday night {number}", description="A quasar of a show")
    config = client.app

    async def found(candidates: int) -> int:
        page = await service.search(
            settings=config[keys.SETTINGS],
            redis=config[keys.REDIS],
            metrics=config[keys.METRICS],
            storage=config[keys.STORAGE],
            text="quasar",
            kind="gigs",
            filters=SearchFiltersIn(),
            cursor=None,
            limit=50,
            candidates=candidates,
        )
        return len(page.items)

    assert await found(3) == 3
    assert await found(service.CANDIDATES) == 8


# -- the cache (SPEC §5) -----------------------------------------------------------------


async def test_results_are_cached_15_minutes_under_the_normalised_query(
    client: Client, signed_in: dict[str, str], redis_client: Redis
) -> None:
    artist_id = await artist("Neon Tide")
    metrics = client.app[keys.METRICS]

    first = await search(client, signed_in, q="  Neon   TIDE ")
    cached = await redis_client.keys("search:neon tide:*")
    assert len(cached) == 1
    assert 890 < await redis_client.ttl(cached[0]) <= 900
    assert sample(metrics, "umbrella_cache_requests_total", cache="search", result="miss") == 1

    # A change that bypasses the service: only the cache can still answer the old name.
    await Artist.raw("UPDATE artists SET stage_name = 'Neon Tidal' WHERE id = {}", artist_id)
    again = await search(client, signed_in, q="neon tide")
    assert again == first
    assert sample(metrics, "umbrella_cache_requests_total", cache="search", result="hit") == 1

    # Another filter, type, page size or cursor is another entry.
    await search(client, signed_in, q="neon tide", limit=5)
    assert len(await redis_client.keys("search:neon tide:*")) == 2

    await search_cache.forget(redis_client, kind="artists")
    assert names(await search(client, signed_in, q="neon tide")) == ["Neon Tidal"]


async def test_a_profile_change_drops_artist_searches_but_not_gig_searches(
    client: Client, signed_in: dict[str, str]
) -> None:
    user_id, _ = await make_artist(stage_name="Paper Moons")
    venue_id = await venue()
    await gig(venue_id, "Paper lanterns festival")
    assert names(await search(client, signed_in, q="paper", type="artists")) == ["Paper Moons"]
    assert names(await search(client, signed_in, q="paper", type="gigs")) == [
        "Paper lanterns festival"
    ]
    metrics = client.app[keys.METRICS]
    hits_before = sample(metrics, "umbrella_cache_requests_total", cache="search", result="hit")

    changed = await client.put(
        "/v1/profile",
        json={"stage_name": "Paper Planes"},
        headers=await bearer_for(client.app, user_id),
    )
    await data_of(changed)

    assert names(await search(client, signed_in, q="paper", type="artists")) == ["Paper Planes"]
    assert names(await search(client, signed_in, q="paper", type="gigs")) == [
        "Paper lanterns festival"
    ]
    # The gig search was still cached; the artist search was not.
    hits = sample(metrics, "umbrella_cache_requests_total", cache="search", result="hit")
    assert hits == hits_before + 1


async def test_forgetting_gigs_drops_every_search_that_shows_gigs(
    client: Client, signed_in: dict[str, str], redis_client: Redis
) -> None:
    await artist("Harbor Lights")
    venue_id = await venue()
    assert names(await search(client, signed_in, q="harbor")) == ["Harbor Lights"]
    assert names(await search(client, signed_in, q="harbor", type="gigs")) == []
    await gig(venue_id, "Harbor lights regatta")
    assert names(await search(client, signed_in, q="harbor", type="gigs")) == []  # cached

    await search_cache.forget(redis_client, kind="gigs")

    assert set(names(await search(client, signed_in, q="harbor"))) == {
        "Harbor Lights",
        "Harbor lights regatta",
    }
    assert names(await search(client, signed_in, q="harbor", type="gigs")) == [
        "Harbor lights regatta"
    ]


async def test_search_answers_from_postgres_while_redis_is_down(
    settings: Settings, own_redis: DevStack
) -> None:
    app = create_app(settings.model_copy(update={"redis_url": own_redis.endpoints.redis_url}))
    client = await start_client(app)
    try:
        headers = await bearer_for(app, await make_user(onboarding_complete=True))
        await artist("Quiet Storm")
        assert names(await search(client, headers, q="quiet storm")) == ["Quiet Storm"]
        own_redis.processes["redis"].stop()

        await artist("Quiet Riot")
        page = await search(client, headers, q="quiet", type="artists")
        assert set(names(page)) == {"Quiet Storm", "Quiet Riot"}
        # forget never raises, so a committed change never fails for the cache
        await search_cache.forget(app[keys.REDIS], kind="artists")
        await search_cache.forget(app[keys.REDIS], kind="gigs")

        metrics = app[keys.METRICS]
        assert sample(metrics, "umbrella_cache_requests_total", cache="search", result="error") == 1
    finally:
        await client.close()


# -- indexes ----------------------------------------------------------------------------


async def _plan(sql: str, values: list[Any]) -> str:
    """The plan Postgres would run, table scans ruled out (so only a usable index remains)."""
    async with DB.transaction():
        await db.fetch("SET LOCAL enable_seqscan = off")
        rows = await db.fetch("EXPLAIN " + sql, *values)
    return "\n".join(row["QUERY PLAN"] for row in rows)


async def test_the_queries_use_the_indexes_of_migrations_search(client: Client) -> None:
    """The queries read the indexed columns and spell each indexed expression as indexed."""
    # Enough rows for the planner to prefer an index where one fits.
    await Artist.raw(
        "WITH u AS (INSERT INTO users (oauth_provider, oauth_id, email, onboarding_complete)"
        "  SELECT 'google', 'g' || n, 'u' || n || '@example.com', true"
        "  FROM generate_series(1, 2000) n RETURNING id, oauth_id)"
        " INSERT INTO artists (user_id, stage_name, tagline, bio)"
        " SELECT id, 'Artist ' || md5(oauth_id), 'Tag ' || oauth_id, 'Bio ' || md5(oauth_id || 'b')"
        " FROM u"
    )
    await Gig.raw(
        "INSERT INTO gigs (venue_id, title, description, venue_name, city, state, date,"
        " payment_amount)"
        " SELECT (SELECT min(id::text)::uuid FROM users), 'Gig ' || md5(n::text),"
        " 'About ' || md5(n::text || 'd'), 'Venue ' || n, 'Austin', 'TX',"
        " current_date + n % 90, 100 FROM generate_series(1, 2000) n"
    )
    await service.refresh_gig_words(on=date.today())
    # VACUUM empties the GIN indexes' pending lists (fresh rows wait there), whose cost
    # would otherwise steer the planner to a bitmap of every open gig.
    await Artist.raw("VACUUM ANALYZE users, artists, gigs, gig_words")
    search = SearchSpec(
        text="jonny cahs", kinds=KINDS, genres=(), location=None, after=None, limit=20
    )

    artists_plan = await _plan(*artist_hits_sql(search))
    gigs_plan = await _plan(*gig_hits_sql(search, today=date.today()))
    first_page = Pager(client.app[keys.SETTINGS], "artists", cursor=None, limit=20)
    list_plan = await _plan(
        *artist_list_sql(genres=(), location=None, verified=None, pager=first_page)
    )

    assert "artists_search_document_idx" in artists_plan, artists_plan
    assert "artists_stage_name_trgm_idx" in artists_plan, artists_plan
    assert "gigs_search_document_idx" in gigs_plan, gigs_plan
    assert "gig_words_word_trgm_idx" in gigs_plan, gigs_plan
    assert "artists_created_at_id_idx" in list_plan, list_plan
