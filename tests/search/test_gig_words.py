"""Typos in gig searches: corrected against the word list of open gigs (docs/search.md)."""

from __future__ import annotations

from datetime import date
from typing import Any

from redis.asyncio import Redis

from tests.conftest import run_umbrella, subprocess_env
from tests.search.world import Client, data_of, gig, names, venue
from umbrella.config import Settings
from umbrella.core import search_cache
from umbrella.core.cron_runs import CronRun
from umbrella.gigs.tables import Gig
from umbrella.search import service
from umbrella.search.tables import GigWord


async def search(client: Client, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/search", params={"type": "gigs", **params}, headers=headers)
    page: dict[str, Any] = await data_of(response)
    return page


async def refresh(redis: Redis) -> tuple[int, int]:
    """What the search-words job does, then drop cached gig searches (so a test sees it now)."""
    counts = await service.refresh_gig_words(on=date.today())
    await search_cache.forget(redis, kind="gigs")
    return counts


async def word_list() -> dict[str, int]:
    rows = await GigWord.select(GigWord.word, GigWord.gigs)
    return {row["word"]: row["gigs"] for row in rows}


async def test_a_typo_in_a_gig_title_finds_the_gig_once_the_word_list_is_refreshed(
    client: Client, signed_in: dict[str, str], redis_client: Redis
) -> None:
    venue_id = await venue()
    await gig(venue_id, "Thursday Rock Night", venue_name="The Velvet Room")
    await gig(venue_id, "Sunday Jazz Brunch", venue_name="The Anchor")

    # Not listed yet: the typo matches no word of any gig.
    assert names(await search(client, signed_in, q="thursdya")) == []

    await refresh(redis_client)

    assert names(await search(client, signed_in, q="thursdya")) == ["Thursday Rock Night"]
    # Each word is corrected on its own, and every corrected word must match.
    assert names(await search(client, signed_in, q="thursdya rok nigth")) == ["Thursday Rock Night"]
    assert names(await search(client, signed_in, q="thursdya jaz")) == []
    # Venue names are listed too; a word with nothing close is left out of the correction.
    assert names(await search(client, signed_in, q="velvt")) == ["Thursday Rock Night"]
    assert names(await search(client, signed_in, q="zzqx brnch")) == ["Sunday Jazz Brunch"]
    # The score keeps its meaning: a typo ranks by title similarity only, below exact words.
    typo = (await search(client, signed_in, q="thursdya"))["items"][0]["score"]
    exact = (await search(client, signed_in, q="thursday"))["items"][0]["score"]
    assert 0 < typo < exact


async def test_a_new_word_is_found_exactly_before_the_word_list_is_refreshed(
    client: Client, signed_in: dict[str, str], redis_client: Redis
) -> None:
    venue_id = await venue()
    await gig(venue_id, "Friday Folk Night")
    await refresh(redis_client)
    await gig(venue_id, "Zydeco Friday")

    assert "zydeco" not in await word_list()
    assert names(await search(client, signed_in, q="zydeco")) == ["Zydeco Friday"]
    # Its typo waits for the next refresh (up to 15 minutes).
    assert names(await search(client, signed_in, q="zydeko")) == []
    await refresh(redis_client)
    assert names(await search(client, signed_in, q="zydeko")) == ["Zydeco Friday"]


async def test_the_refresh_is_idempotent_and_lists_only_open_upcoming_gigs(
    client: Client, redis_client: Redis
) -> None:
    venue_id = await venue()
    await gig(venue_id, "Rock Night", venue_name="Rock Cellar")
    await gig(venue_id, "Jazz Night", venue_name="Blue Room")
    await gig(venue_id, "Gospel Hour", status="cancelled")
    await gig(venue_id, "Polka Matinee", days_ahead=-3)

    assert await refresh(redis_client) == (6, 6)
    expected = {"rock": 2, "night": 2, "cellar": 1, "jazz": 1, "blue": 1, "room": 1}
    assert await word_list() == expected
    # Again with nothing changed: the same list, no row written.
    assert await refresh(redis_client) == (6, 0)
    assert await word_list() == expected

    await Gig.raw(
        "UPDATE gigs SET status = 'cancelled', cancelled_at = now() WHERE title = 'Jazz Night'"
    )
    assert await refresh(redis_client) == (3, 4)  # jazz, blue, room gone; night down to 1
    assert await word_list() == {"rock": 2, "night": 1, "cellar": 1}


async def test_pages_of_a_corrected_search_never_repeat_or_skip(
    client: Client, signed_in: dict[str, str], redis_client: Redis
) -> None:
    venue_id = await venue()
    expected = {f"Midnight session {number}" for number in range(5)}
    for title in expected:
        await gig(venue_id, title)
    await refresh(redis_client)

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params: dict[str, Any] = {"q": "midnite sesion", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await search(client, signed_in, **params)
        seen += names(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(expected)


async def test_tsquery_syntax_in_listed_words_and_queries_is_plain_text(
    client: Client, signed_in: dict[str, str], redis_client: Redis
) -> None:
    venue_id = await venue()
    await gig(
        venue_id, "Rock'n'Roll: Live! (C:\\Tapes) & the 100% Club", venue_name="O'Malley's | Bar"
    )
    await refresh(redis_client)

    for q in ("rokn'rol", "lve & | ! : * ( ) 'clb'", "the", "tapes\\ malleys", '"club" or -rock'):
        await search(client, signed_in, q=q)  # never a syntax error
    assert names(await search(client, signed_in, q="malleyz")) == [
        "Rock'n'Roll: Live! (C:\\Tapes) & the 100% Club"
    ]


async def test_the_search_words_job_runs_from_the_command_line(
    client: Client, settings: Settings
) -> None:
    venue_id = await venue()
    await gig(venue_id, "Harbor Lights", venue_name="Pier")

    result = await run_umbrella("cron", "search-words", env=subprocess_env(settings))

    assert result.code == 0, result.stderr
    assert "listed 3 words" in result.stdout
    assert await word_list() == {"harbor": 1, "lights": 1, "pier": 1}
    runs = await CronRun.select(CronRun.outcome).where(CronRun.job == "search-words")
    assert runs == [{"outcome": "succeeded"}]
