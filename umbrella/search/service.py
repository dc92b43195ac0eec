"""Artist discovery (`GET /v1/artists`) and global search over artists and open gigs (D-071).

docs/search.md describes the rules. In short: Postgres full-text search over a weighted
document (name or title A, tagline or venue B, bio or description C, a stored generated
column) plus pg_trgm similarity of the name or title; a typo finds its artist by name
similarity, its gig through gig_words, a list of open gigs' words. Results are ranked by the
sum of both over a bounded number of candidates and paged by a signed cursor over (score,
id). ARTIST_NAME below is the expression `migrations/search` indexes: change both together,
or lose the index.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from redis.asyncio import Redis

from umbrella.artists import service as artists_service
from umbrella.config import Settings
from umbrella.core import db, search_cache
from umbrella.core.errors import ValidationFailed
from umbrella.core.pagination import Cursors, Keyset, ListPage, Pager
from umbrella.core.search_cache import KINDS, Kind
from umbrella.core.sql import Conditions
from umbrella.core.storage import Storage
from umbrella.observability.metrics import Metrics
from umbrella.search.schemas import (
    ArtistCardOut,
    GigCardOut,
    SearchFiltersIn,
    SearchHitOut,
    SearchType,
)
from umbrella.web.envelope import dumps

# The weighted documents are stored columns Postgres generates (migrations/search, search_0002).
ARTIST_NAME = "lower(a.stage_name)"  # trigram index artists_stage_name_trgm_idx
GIG_TITLE = "lower(g.title)"  # scored only: gig typos go through gig_words (search_0003)
# websearch_to_tsquery accepts any text (quotes, -words, or, stray & | ! : * ( )) without
# a syntax error; the text is always a bound parameter.
TS_QUERY = "websearch_to_tsquery('english', {}::text)"
# Each signal hands at most this many candidates of each kind to the ranking, so a word
# found in 70,000 gigs costs what one found in 2,000 does (docs/search.md, "Bounded work").
# Measured on 1,000,000 gigs: at 200 every statement of a search stays under 20 ms, so two
# cores answer a hundred distinct searches a second (1,000 allowed about 40).
CANDIDATES = 200

ARTIST_CARD = (
    "a.id, a.stage_name, a.tagline, a.avatar_url, a.city, a.state, a.country,"
    " a.primary_genre, a.secondary_genres, a.verified, a.avg_rating, a.total_reviews,"
    " a.total_gigs, a.follower_count, a.created_at"
)
GIG_CARD = (
    "g.id, g.title, g.venue_name, g.city, g.state, g.date, g.start_time, g.end_time,"
    " g.genre, g.payment_amount, g.payment_type, g.capacity, g.filled_slots, g.urgency_flag"
)


def _score(document: str, name: str) -> str:
    """Rank of the weighted words plus trigram similarity of the name (2 values)."""
    return f"(ts_rank({document}, {TS_QUERY}) + similarity({name}, {{}}::text))::float8"


@dataclass
class _Sql:
    """SQL text for `db.fetch`, built in order: each piece's `{}` become the next `$n`.

    The statements here put values all through the text (each CTE arm has its own), so
    their placeholders are numbered as the pieces are added, not from one WHERE clause.
    """

    text: str = ""
    values: list[Any] = field(default_factory=list)

    def add(self, text: str, *values: Any) -> None:
        pieces = text.split("{}")
        if len(pieces) - 1 != len(values):
            raise RuntimeError(f"{len(values)} values for {text!r}")
        numbered = [pieces[0]]
        for number, piece in enumerate(pieces[1:], start=len(self.values) + 1):
            numbered.append(f"${number}{piece}")
        self.text += "".join(numbered)
        self.values.extend(values)

    def add_conditions(self, where: Conditions) -> None:
        """` AND` the conditions (a page's keyset), made with `first` after the values so far."""
        if where.first != len(self.values) + 1:
            raise RuntimeError(f"conditions numbered from ${where.first}, not after {self.values}")
        if where.parts:
            self.text += " AND " + where.sql
            self.values.extend(where.values)


def _artist_filters(
    sql: _Sql,
    *,
    genres: Sequence[str],
    location: str | None,
    verified: bool | None,
    alias: str = "a",
) -> None:
    if genres:
        sql.add(
            f" AND ({alias}.primary_genre = ANY({{}}::text[])"
            f" OR {alias}.secondary_genres && {{}}::varchar[])",
            list(genres),
            list(genres),
        )
    if location is not None:
        sql.add(
            f" AND (lower({alias}.city) = lower({{}}::text)"
            f" OR lower({alias}.state) = lower({{}}::text))",
            location,
            location,
        )
    if verified is not None:
        sql.add(f" AND {alias}.verified = {{}}", verified)


def _gig_filters(sql: _Sql, search: SearchSpec, *, alias: str) -> None:
    if search.genres:
        sql.add(f" AND {alias}.genre = ANY({{}}::text[])", list(search.genres))
    if search.location is not None:
        sql.add(
            f" AND (lower({alias}.city) = lower({{}}::text)"
            f" OR lower({alias}.state) = lower({{}}::text))",
            search.location,
            search.location,
        )


async def _artist_card(storage: Storage, row: dict[str, Any]) -> ArtistCardOut:
    """A card with its stored avatar key replaced by a one-hour download link."""
    key = row.get("avatar_url")
    link = (
        await storage.presigned_get(key, expires=artists_service.IMAGE_URL_EXPIRY) if key else None
    )
    return ArtistCardOut.model_validate({**row, "avatar_url": link})


# -- GET /v1/artists ---------------------------------------------------------------------


# Newest first; the cursor key is `created_at`, as in cursors already handed out.
NEWEST_ARTISTS = Keyset("created_at", "created_at", descending=True, parse=datetime.fromisoformat)


def artist_list_sql(
    *, genres: Sequence[str], location: str | None, verified: bool | None, pager: Pager
) -> tuple[str, list[Any]]:
    """The artists list query: onboarded artists, newest first, after the cursor's row."""
    sql = _Sql()
    sql.add(
        f"SELECT {ARTIST_CARD} FROM artists a JOIN users u ON u.id = a.user_id"
        " WHERE u.onboarding_complete"
    )
    _artist_filters(sql, genres=genres, location=location, verified=verified)
    after = Conditions(first=len(sql.values) + 1)
    pager.narrow(after, alias="a")
    sql.add_conditions(after)
    sql.add(f" ORDER BY {pager.order_by('a')} LIMIT {{}}", pager.fetch)
    return sql.text, sql.values


async def list_artists(
    *,
    settings: Settings,
    storage: Storage,
    genres: Sequence[str],
    location: str | None,
    verified: bool | None,
    cursor: str | None,
    limit: int,
) -> ListPage[ArtistCardOut]:
    """Artists who finished onboarding, newest first, filtered, a page at a time."""
    pager = Pager(settings, "artists", cursor=cursor, limit=limit, keyset=NEWEST_ARTISTS)
    sql, values = artist_list_sql(genres=genres, location=location, verified=verified, pager=pager)
    rows = await db.fetch(sql, *values)
    page = pager.page(rows, lambda row: row)
    cards = [await _artist_card(storage, row) for row in page.items]
    return ListPage(items=cards, next_cursor=page.next_cursor)


# -- GET /v1/search ----------------------------------------------------------------------


@dataclass(frozen=True)
class SearchSpec:
    """One search as the database runs it: normalised text, kinds, filters, page position."""

    text: str
    kinds: tuple[Kind, ...]
    genres: tuple[str, ...]
    location: str | None
    after: tuple[float, UUID] | None
    limit: int
    candidates: int = CANDIDATES


def _ranked(sql: _Sql, search: SearchSpec) -> None:
    """Close the hits subquery: after the cursor, best first, one row more than a page."""
    sql.add(") AS hits")
    if search.after is not None:
        score, last_id = search.after
        sql.add(" WHERE (hits.score, hits.id) < ({}::float8, {}::uuid)", score, last_id)
    sql.add(" ORDER BY hits.score DESC, hits.id DESC LIMIT {}", search.limit + 1)


# Both queries rank the union of two bounded candidate lists (docs/search.md): the first
# `candidates` rows whose words match, and the first `candidates` rows whose name is
# similar enough (`%`, pg_trgm's 0.3). A GIN scan has no order: "first" is the table's
# physical order. UNION drops a row found by both: same columns, same score.


# The trigram arm of artists runs only when the words match fewer than this many: a short
# or common name ("dj", "the") lists tens of thousands of names sharing a trigram, and a
# misspelt one ("jonny cahs") finds nothing by its words (73-128 ms at 100,000 artists).
FUZZY_ARTISTS_BELOW = 50


def artist_hits_sql(search: SearchSpec) -> tuple[str, list[Any]]:
    """The artists query of a search: onboarded artists only, best first."""
    text, cap = search.text, search.candidates
    score = _score("a.search_document", ARTIST_NAME)
    sql = _Sql()
    for arm, (match, values) in enumerate(
        (
            (f"a.search_document @@ {TS_QUERY}", [text]),
            (f"{ARTIST_NAME} % {{}}::text", [text]),
        )
    ):
        sql.add(
            f"{', fuzzy AS (' if arm else 'WITH words AS MATERIALIZED ('}SELECT {ARTIST_CARD},"
            f" {score} AS score FROM artists a JOIN users u ON u.id = a.user_id"
            f" WHERE u.onboarding_complete AND {match}",
            text,
            text,
            *values,
        )
        _artist_filters(sql, genres=search.genres, location=search.location, verified=None)
        if arm:
            # Uncorrelated, like the gigs' fuzzy arm: decided once, before the trigram scan.
            sql.add(" AND (SELECT count(*) FROM words) < {}", FUZZY_ARTISTS_BELOW)
        sql.add(" LIMIT {})", cap)
    sql.add(" SELECT * FROM (SELECT * FROM words UNION SELECT * FROM fuzzy")
    _ranked(sql, search)
    return sql.text, sql.values


# Gig titles repeat ("Thursday Rock Night"): a trigram scan of the titles listed a quarter
# of a million of them for one query word (84-650 ms at 1,000,000 gigs). So gigs are found
# fuzzily through the word list instead (docs/search.md, "Typos in gig searches"): each query
# word is corrected to its closest words of open gigs' titles and venue names (gig_words, a
# few thousand rows at most), and gigs are matched by those words on their stored documents,
# a bounded words scan like the exact arm's.
# The fuzzy arm runs only when the words match fewer than this many gigs: a typo
# ("thursdya") finds nothing exactly, a word found everywhere needs no correcting.
FUZZY_GIGS_BELOW = 50
# Corrections kept per query word, the closest first: a typo usually has one right answer,
# and each extra word widens the index scan of the gigs.
CORRECTIONS_PER_WORD = 3

# The corrected query: for each query word ('simple': lower case, as the list stores words),
# its closest listed words (pg_trgm `%`, similarity at least 0.3, gig_words_word_trgm_idx; of
# equally close words the more common) OR-ed; the query words AND-ed, as in the exact arm. A
# word with no close match is left out (it may be in a description, or beyond repair); NULL
# when none has one, and the gigs index scan then returns nothing. Each correction goes
# through plainto_tsquery('english') (stemmed like the documents) and is spliced in as
# Postgres prints it, so no word is ever read as tsquery syntax. Every order is fixed: each
# page of a search sees the same query, so the same candidates.
_CORRECTED_QUERY = (
    "(SELECT string_agg(alternatives, ' & ' ORDER BY token)::tsquery FROM ("
    "SELECT t.token, '(' || string_agg('(' || c.lexemes::text || ')', ' | ' ORDER BY c.word)"
    " || ')' AS alternatives"
    " FROM unnest(tsvector_to_array(to_tsvector('simple', {}::text))) AS t(token)"
    " CROSS JOIN LATERAL (SELECT w.word, plainto_tsquery('english', w.word) AS lexemes"
    " FROM gig_words w WHERE w.word % t.token"
    " ORDER BY similarity(w.word, t.token) DESC, w.gigs DESC, w.word LIMIT {}) AS c"
    " WHERE numnode(c.lexemes) > 0"  # a stop word ('the') leaves no lexeme
    " GROUP BY t.token) AS corrected)"
)


def gig_hits_sql(search: SearchSpec, *, today: date) -> tuple[str, list[Any]]:
    """The gigs query of a search: open gigs from `today` on, best first."""
    text, cap = search.text, search.candidates
    score = _score("g.search_document", GIG_TITLE)
    sql = _Sql()
    arms: tuple[tuple[str, list[Any]], ...] = (
        (f"g.search_document @@ {TS_QUERY}", [text]),
        (f"g.search_document @@ {_CORRECTED_QUERY}", [text, CORRECTIONS_PER_WORD]),
    )
    for arm, (match, values) in enumerate(arms):
        # The literal `status = 'open'` lets the planner use the partial indexes.
        # `g.date + 0` keeps gigs_date_idx out of the plan: ANDing its bitmap of every
        # upcoming gig cost 30 ms, more than checking the date of the rows read.
        sql.add(
            f"{', fuzzy AS (' if arm else 'WITH words AS MATERIALIZED ('}SELECT {GIG_CARD},"
            f" {score} AS score FROM gigs g WHERE g.status = 'open' AND {match}"
            " AND g.date + 0 >= {}",
            text,
            text,
            *values,
            today,
        )
        _gig_filters(sql, search, alias="g")
        if arm:
            # An uncorrelated condition: Postgres decides it once, before the scan, and
            # neither corrects the words nor scans the gigs when the words found enough.
            sql.add(" AND (SELECT count(*) FROM words) < {}", FUZZY_GIGS_BELOW)
        sql.add(" LIMIT {})", cap)
    sql.add(" SELECT * FROM (SELECT * FROM words UNION SELECT * FROM fuzzy")
    _ranked(sql, search)
    return sql.text, sql.values


# The words of open upcoming gigs' titles and venue names, with how many gigs hold each (a
# gig whose title and venue name share a word counts twice). Grouping the gigs by title and by
# venue name first, in one scan, parses each distinct name once, not each gig: 0.5 s at
# 1,000,000 gigs, where ts_stat over every gig took 4.2 s and grouping by (title, venue name)
# pairs 1.4 s. Titles are never NULL, so a NULL title is the venue names' grouping set.
_FRESH_GIG_WORDS = (
    "SELECT word, sum(n)::integer AS gigs FROM ("
    "SELECT coalesce(title, venue_name) AS name, count(*) AS n FROM gigs"
    " WHERE status = 'open' AND date >= $1 GROUP BY GROUPING SETS ((title), (venue_name))"
    ") AS names"
    " CROSS JOIN LATERAL unnest(tsvector_to_array(to_tsvector('simple', names.name))) AS word"
    " GROUP BY word"
)


async def refresh_gig_words(*, on: date) -> tuple[int, int]:
    """Bring gig_words in line with the open gigs from `on` on; (words listed, words changed)."""
    # One statement, so a search never sees a half-refreshed list. Unchanged rows are not
    # rewritten (the WHERE of the upsert): a refresh of a stable list writes next to nothing.
    rows = await db.fetch(
        f"WITH fresh AS MATERIALIZED ({_FRESH_GIG_WORDS}),"
        " gone AS (DELETE FROM gig_words w"
        "   WHERE NOT EXISTS (SELECT 1 FROM fresh f WHERE f.word = w.word) RETURNING 1),"
        " upserted AS (INSERT INTO gig_words AS w (word, gigs) SELECT word, gigs FROM fresh"
        "   ON CONFLICT (word) DO UPDATE SET gigs = excluded.gigs"
        "   WHERE w.gigs <> excluded.gigs RETURNING 1)"
        " SELECT (SELECT count(*) FROM fresh) AS listed,"
        " (SELECT count(*) FROM gone) + (SELECT count(*) FROM upserted) AS changed",
        on,
    )
    return int(rows[0]["listed"]), int(rows[0]["changed"])


async def _artist_hits(search: SearchSpec) -> list[dict[str, Any]]:
    sql, values = artist_hits_sql(search)
    rows = await db.fetch(sql, *values)
    return [
        {
            "type": "artist",
            "score": row["score"],
            "artist": ArtistCardOut.model_validate(row).model_dump(mode="json"),
        }
        for row in rows
    ]


async def _gig_hits(search: SearchSpec) -> list[dict[str, Any]]:
    sql, values = gig_hits_sql(search, today=datetime.now(UTC).date())
    rows = await db.fetch(sql, *values)
    return [
        {
            "type": "gig",
            "score": row["score"],
            "gig": GigCardOut.model_validate(row).model_dump(mode="json"),
        }
        for row in rows
    ]


def _hit_id(hit: dict[str, Any]) -> str:
    card: dict[str, Any] = hit["artist"] if hit["type"] == "artist" else hit["gig"]
    return str(card["id"])


def _order(hit: dict[str, Any]) -> tuple[float, UUID]:
    # The database's order too: uuid compares as bytes, as Python's UUID does.
    return (float(hit["score"]), UUID(_hit_id(hit)))


async def _search_database(
    *, settings: Settings, search: SearchSpec, fingerprint: str
) -> dict[str, Any]:
    """One page of hits from Postgres, as plain JSON values (what the cache stores)."""
    found = await asyncio.gather(
        *(_artist_hits(search) if kind == "artists" else _gig_hits(search) for kind in search.kinds)
    )
    hits = [hit for kind_hits in found for hit in kind_hits]
    # Each kind gave its best `limit + 1`: the best `limit + 1` of both are among them.
    hits.sort(key=_order, reverse=True)
    hits = hits[: search.limit + 1]

    # Not a Pager: the page is cut from two kinds merged in Python, and the position
    # carries the search it belongs to (`for`), which a Keyset has no place for.
    def position(hit: dict[str, Any]) -> dict[str, Any]:
        return {"score": float(hit["score"]), "id": _hit_id(hit), "for": fingerprint}

    next_cursor = Cursors(settings, "search").next_cursor(hits, search.limit, position)
    return {"items": hits[: search.limit], "next_cursor": next_cursor}


async def _with_links(storage: Storage, page: dict[str, Any]) -> ListPage[SearchHitOut]:
    """The response: avatars as fresh download links (the cache holds only storage keys)."""
    items = []
    for hit in page["items"]:
        if hit["type"] == "artist":
            card = await _artist_card(storage, hit["artist"])
            items.append(SearchHitOut(type="artist", score=hit["score"], artist=card))
        else:
            gig = GigCardOut.model_validate(hit["gig"])
            items.append(SearchHitOut(type="gig", score=hit["score"], gig=gig))
    return ListPage(items=items, next_cursor=page["next_cursor"])


def _fingerprint(
    text: str, kinds: tuple[Kind, ...], genres: tuple[str, ...], loc: str | None
) -> str:
    """What a cursor is for: a cursor of another search is refused, not misread."""
    material = json.dumps([text, kinds, genres, loc], separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()[:16]


async def search(
    *,
    settings: Settings,
    redis: Redis,
    metrics: Metrics,
    storage: Storage,
    text: str,
    kind: SearchType | None,
    filters: SearchFiltersIn,
    cursor: str | None,
    limit: int,
    candidates: int = CANDIDATES,
) -> ListPage[SearchHitOut]:
    """Artists and open upcoming gigs matching `text`, best first, cached for 15 minutes.

    `candidates` bounds the rows each signal hands to the ranking, per kind.
    """
    query = search_cache.normalise(text)
    kinds: tuple[Kind, ...] = KINDS if kind is None else (kind,)
    genres = tuple(sorted(set(filters.genres)))
    location = search_cache.normalise(filters.location) if filters.location else None
    fingerprint = _fingerprint(query, kinds, genres, location)
    position = Cursors(settings, "search").decode(cursor)
    after = None
    if position is not None:
        if position.get("for") != fingerprint:
            raise ValidationFailed(
                "This cursor belongs to another search. Start again from the first page.",
                field="cursor",
            )
        after = (float(position["score"]), UUID(position["id"]))

    params = {
        "type": kind,
        "genres": genres,
        "location": location,
        "cursor": cursor or None,
        "limit": limit,
        "candidates": candidates,
    }
    key, page = await search_cache.read(
        redis, metrics.cache_requests, query=query, kinds=kinds, params=params
    )
    if page is None:
        found = SearchSpec(
            text=query,
            kinds=kinds,
            genres=genres,
            location=location,
            after=after,
            limit=limit,
            candidates=candidates,
        )
        page = await _search_database(settings=settings, search=found, fingerprint=fingerprint)
        if key is not None:
            await search_cache.store(redis, key, dumps(page))
    return await _with_links(storage, page)
