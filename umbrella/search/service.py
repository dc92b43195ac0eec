"""Artist discovery (`GET /v1/artists`) and global search over artists and open gigs (D-071).

docs/search.md describes the rules. In short: Postgres full-text search over a weighted
document (name or title A, tagline or venue B, bio or description C) plus pg_trgm
similarity of the name or title, so a typo still finds its artist; results are ranked by
the sum of both and paged by a signed cursor over (score, id). The document expressions
below are the ones `migrations/search` indexes: change both together, or lose the index.
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
from umbrella.artists.tables import Artist
from umbrella.config import Settings
from umbrella.core.storage import Storage
from umbrella.gigs.tables import Gig
from umbrella.observability.metrics import Metrics
from umbrella.search import cache as search_cache
from umbrella.search.cache import KINDS, Kind
from umbrella.search.schemas import (
    ArtistCardOut,
    GigCardOut,
    SearchFiltersIn,
    SearchHitOut,
    SearchType,
)
from umbrella.web.errors import ValidationFailed
from umbrella.web.pagination import Cursors

# Weighted documents (the same text as the expression indexes of migrations/search).
ARTIST_DOCUMENT = (
    "(setweight(to_tsvector('english', a.stage_name), 'A')"
    " || setweight(to_tsvector('english', coalesce(a.tagline, '')), 'B')"
    " || setweight(to_tsvector('english', coalesce(a.bio, '')), 'C'))"
)
ARTIST_NAME = "lower(a.stage_name)"  # trigram index artists_stage_name_trgm_idx
GIG_DOCUMENT = (
    "(setweight(to_tsvector('english', g.title), 'A')"
    " || setweight(to_tsvector('english', g.venue_name), 'B')"
    " || setweight(to_tsvector('english', coalesce(g.description, '')), 'C'))"
)
GIG_TITLE = "lower(g.title)"  # trigram index gigs_title_trgm_idx
# websearch_to_tsquery accepts any text (quotes, -words, or, stray & | ! : * ( )) without
# a syntax error; the text is always a bound parameter.
TS_QUERY = "websearch_to_tsquery('english', {}::text)"

ARTIST_CARD = (
    "a.id, a.stage_name, a.tagline, a.avatar_url, a.city, a.state, a.country,"
    " a.primary_genre, a.secondary_genres, a.verified, a.avg_rating, a.total_reviews,"
    " a.total_gigs, a.follower_count, a.created_at"
)
GIG_CARD = (
    "g.id, g.title, g.venue_name, g.city, g.state, g.date, g.start_time, g.end_time,"
    " g.genre, g.payment_amount, g.payment_type, g.capacity, g.filled_slots, g.urgency_flag"
)


def _matches(document: str, name: str) -> str:
    """Words of the document, or a name close enough to the whole query (2 values)."""
    # No word_similarity (`<%`) arm: its trigram index estimate is so high that the planner
    # would scan the table instead of using any of the indexes.
    return f"({document} @@ {TS_QUERY} OR {name} % {{}}::text)"


def _score(document: str, name: str) -> str:
    """Rank of the weighted words plus trigram similarity of the name (2 values)."""
    return f"(ts_rank({document}, {TS_QUERY}) + similarity({name}, {{}}::text))::float8"


@dataclass
class _Sql:
    """SQL text with `{}` placeholders and their values, built in order."""

    text: str = ""
    values: list[Any] = field(default_factory=list)

    def add(self, text: str, *values: Any) -> None:
        if text.count("{}") != len(values):
            raise RuntimeError(f"{len(values)} values for {text!r}")
        self.text += text
        self.values.extend(values)


def _artist_filters(
    sql: _Sql, *, genres: Sequence[str], location: str | None, verified: bool | None
) -> None:
    if genres:
        sql.add(
            " AND (a.primary_genre = ANY({}::text[]) OR a.secondary_genres && {}::varchar[])",
            list(genres),
            list(genres),
        )
    if location is not None:
        sql.add(
            " AND (lower(a.city) = lower({}::text) OR lower(a.state) = lower({}::text))",
            location,
            location,
        )
    if verified is not None:
        sql.add(" AND a.verified = {}", verified)


async def _artist_card(storage: Storage, row: dict[str, Any]) -> ArtistCardOut:
    """A card with its stored avatar key replaced by a one-hour download link."""
    key = row.get("avatar_url")
    link = (
        await storage.presigned_get(key, expires=artists_service.IMAGE_URL_EXPIRY) if key else None
    )
    return ArtistCardOut.model_validate({**row, "avatar_url": link})


# -- GET /v1/artists ---------------------------------------------------------------------


def _list_position(row: dict[str, Any]) -> dict[str, Any]:
    return {"created_at": row["created_at"].isoformat(), "id": str(row["id"])}


def artist_list_sql(
    *,
    genres: Sequence[str],
    location: str | None,
    verified: bool | None,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> tuple[str, list[Any]]:
    """The artists list query: onboarded artists, newest first, after the cursor's row."""
    sql = _Sql()
    sql.add(
        f"SELECT {ARTIST_CARD} FROM artists a JOIN users u ON u.id = a.user_id"
        " WHERE u.onboarding_complete"
    )
    _artist_filters(sql, genres=genres, location=location, verified=verified)
    if after is not None:
        sql.add(" AND (a.created_at, a.id) < ({}, {})", *after)
    sql.add(" ORDER BY a.created_at DESC, a.id DESC LIMIT {}", limit + 1)
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
) -> dict[str, Any]:
    """Artists who finished onboarding, newest first, filtered, a page at a time."""
    cursors = Cursors(settings, "artists")
    position = cursors.decode(cursor)
    after = (
        None
        if position is None
        else (datetime.fromisoformat(position["created_at"]), UUID(position["id"]))
    )
    sql, values = artist_list_sql(
        genres=genres, location=location, verified=verified, after=after, limit=limit
    )
    rows = await Artist.raw(sql, *values)
    return {
        "items": [await _artist_card(storage, row) for row in rows[:limit]],
        "next_cursor": cursors.next_cursor(rows, limit, _list_position),
    }


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


def _ranked(sql: _Sql, search: SearchSpec) -> None:
    """Close the hits subquery: after the cursor, best first, one row more than a page."""
    sql.add(") AS hits")
    if search.after is not None:
        score, last_id = search.after
        sql.add(" WHERE (hits.score, hits.id) < ({}::float8, {}::uuid)", score, last_id)
    sql.add(" ORDER BY hits.score DESC, hits.id DESC LIMIT {}", search.limit + 1)


def artist_hits_sql(search: SearchSpec) -> tuple[str, list[Any]]:
    """The artists query of a search: onboarded artists only, best first."""
    text = search.text
    sql = _Sql()
    sql.add(
        f"SELECT * FROM (SELECT {ARTIST_CARD}, {_score(ARTIST_DOCUMENT, ARTIST_NAME)} AS score"
        " FROM artists a JOIN users u ON u.id = a.user_id"
        f" WHERE u.onboarding_complete AND {_matches(ARTIST_DOCUMENT, ARTIST_NAME)}",
        *[text] * 4,
    )
    _artist_filters(sql, genres=search.genres, location=search.location, verified=None)
    _ranked(sql, search)
    return sql.text, sql.values


def gig_hits_sql(search: SearchSpec, *, today: date) -> tuple[str, list[Any]]:
    """The gigs query of a search: open gigs from `today` on, best first."""
    text = search.text
    sql = _Sql()
    # The literal `status = 'open'` lets the planner use the partial indexes.
    sql.add(
        f"SELECT * FROM (SELECT {GIG_CARD}, {_score(GIG_DOCUMENT, GIG_TITLE)} AS score"
        " FROM gigs g"
        f" WHERE g.status = 'open' AND g.date >= {{}} AND {_matches(GIG_DOCUMENT, GIG_TITLE)}",
        *[text] * 2,
        today,
        *[text] * 2,
    )
    if search.genres:
        sql.add(" AND g.genre = ANY({}::text[])", list(search.genres))
    if search.location is not None:
        sql.add(
            " AND (lower(g.city) = lower({}::text) OR lower(g.state) = lower({}::text))",
            search.location,
            search.location,
        )
    _ranked(sql, search)
    return sql.text, sql.values


async def _artist_hits(search: SearchSpec) -> list[dict[str, Any]]:
    sql, values = artist_hits_sql(search)
    rows = await Artist.raw(sql, *values)
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
    rows = await Gig.raw(sql, *values)
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

    def position(hit: dict[str, Any]) -> dict[str, Any]:
        return {"score": float(hit["score"]), "id": _hit_id(hit), "for": fingerprint}

    next_cursor = Cursors(settings, "search").next_cursor(hits, search.limit, position)
    return {"items": hits[: search.limit], "next_cursor": next_cursor}


async def _with_links(storage: Storage, page: dict[str, Any]) -> dict[str, Any]:
    """The response: avatars as fresh download links (the cache holds only storage keys)."""
    items = []
    for hit in page["items"]:
        if hit["type"] == "artist":
            card = await _artist_card(storage, hit["artist"])
            items.append(SearchHitOut(type="artist", score=hit["score"], artist=card))
        else:
            gig = GigCardOut.model_validate(hit["gig"])
            items.append(SearchHitOut(type="gig", score=hit["score"], gig=gig))
    return {"items": items, "next_cursor": page["next_cursor"]}


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
) -> dict[str, Any]:
    """Artists and open upcoming gigs matching `text`, best first, cached for 15 minutes."""
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
    }
    key, page = await search_cache.read(redis, metrics, query=query, kinds=kinds, params=params)
    if page is None:
        found = SearchSpec(
            text=query, kinds=kinds, genres=genres, location=location, after=after, limit=limit
        )
        page = await _search_database(settings=settings, search=found, fingerprint=fingerprint)
        if key is not None:
            await search_cache.store(redis, key, page)
    return await _with_links(storage, page)
