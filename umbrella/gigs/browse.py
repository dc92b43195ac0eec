"""Browsing: the shuffled marketplace artists scroll (D-014), with its manual filters.

Browsing is a walk along one index: open gigs ordered by `(shuffle_key, id)`. A scroll
starts at a random point of that ring (its `seed`) and wraps around once, so every scroll
has its own order, and its cursor is a keyset position, never an OFFSET. The daily
`gigs-shuffle` job deals new keys and keeps the old ones in `previous_shuffle_key`, so a
scroll that began before the reshuffle finishes in the order it started with.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import orjson

from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.errors import ValidationFailed
from umbrella.core.pagination import Cursors
from umbrella.core.sql import Conditions
from umbrella.gigs import availability
from umbrella.gigs.service import GIG_COLUMNS, SHUFFLE_KEYS, today
from umbrella.gigs.venue_cards import live_venue_cards, venue_card_fields
from umbrella.piccolo_conf import DB
from umbrella.web.envelope import json_fragment


@dataclass(frozen=True)
class GigFilters:
    """The marketplace's manual filters (D-014: filters, not matching)."""

    genres: tuple[str, ...] = ()
    date_from: date | None = None
    date_to: date | None = None
    city: str | None = None
    state: str | None = None
    payment_min: Decimal | None = None
    payment_max: Decimal | None = None
    urgent: bool | None = None
    # Hide gigs on the artist's unavailable days and the days they are booked (artists only).
    available: bool = False

    def check(self) -> None:
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise ValidationFailed("date_to must not be before date_from.", field="date_to")
        low, high = self.payment_min, self.payment_max
        if low is not None and high is not None and high < low:
            raise ValidationFailed(
                "payment_max must not be below payment_min.", field="payment_max"
            )

    def fingerprint(self) -> str:
        """A short digest a cursor carries, so it only continues the scroll it came from."""
        shown = json.dumps(
            [
                sorted(self.genres),
                self.date_from,
                self.date_to,
                (self.city or "").lower(),
                (self.state or "").lower(),
                self.payment_min,
                self.payment_max,
                self.urgent,
            ],
            default=str,
        )
        # Appended only when set, so the cursors of scrolls without it stay valid.
        if self.available:
            shown += ",available"
        return hashlib.sha256(shown.encode()).hexdigest()[:16]


# A browse statement names the index it means to read: every other condition is written as
# `(condition) IS TRUE`, which means the same in a WHERE but is no index condition. So
# the planner cannot trade the walk for a date, genre or city index on an estimate (status
# and date are correlated: it underestimates a date window of open gigs a hundredfold, and a
# bitmap of 15,000 rows sorted took 85 ms where the walk takes 0.3 ms).
# gigs_open_city_date_idx: lower(city), then date.
_CITY_INDEX_COLUMNS = frozenset({"city", "date"})


def _filter_sql(
    filters: GigFilters, *, on: date, indexed: frozenset[str] = frozenset(), first: int = 1
) -> Conditions:
    """The filters as conditions (placeholders from `$first`); those on the columns in
    `indexed` may use an index."""
    where = Conditions(first=first)

    def add(column: str, condition: str, *values: Any) -> None:
        where.add(_indexed(column in indexed, condition), *values)

    # The partial browse indexes are on status = 'open': the literal lets the planner use them.
    where.add("g.status = 'open'")
    add("date", "g.date >= {}", max(on, filters.date_from or on))
    if filters.date_to is not None:
        add("date", "g.date <= {}", filters.date_to)
    if filters.genres:
        add("genre", "g.genre = ANY({}::varchar[])", list(filters.genres))
    if filters.city:
        add("city", "lower(g.city) = lower({})", filters.city.strip())
    if filters.state:
        add("state", "lower(g.state) = lower({})", filters.state.strip())
    if filters.payment_min is not None:
        add("payment", "g.payment_amount >= {}", filters.payment_min)
    if filters.payment_max is not None:
        add("payment", "g.payment_amount <= {}", filters.payment_max)
    if filters.urgent is not None:
        add("urgency", "g.urgency_flag = {}", filters.urgent)
    return where


async def new_matching_gigs(
    filters: GigFilters, *, on: date, after: datetime, until: datetime, limit: int
) -> list[dict[str, Any]]:
    """Open gigs from `on` matching the browse filters and posted in (`after`, `until`],
    soonest first: what a gig alert (umbrella/alerts) tells its artist about."""
    where = _filter_sql(filters, on=on)
    where.add("g.created_at > {}", after)
    where.add("g.created_at <= {}", until)
    return await db.fetch(
        f"SELECT {GIG_COLUMNS} FROM gigs g WHERE {where.sql}"
        f" ORDER BY g.date, g.start_time NULLS LAST, g.id LIMIT {where.param(limit)}",
        *where.values,
    )


def _reshuffled() -> ValidationFailed:
    return ValidationFailed(
        "The marketplace was reshuffled since this scroll began. Start again from the first page.",
        field="cursor",
    )


# A browse page is one statement (docs/performance.md): the shuffle epoch, the viewer's
# artist id, the walk along the browse index, the gigs' rows, their venue cards and the
# viewer's favorites and applications. The epoch comes out even when the walk finds nothing.
_GIG_FIELDS = tuple(column.strip().removeprefix("g.") for column in GIG_COLUMNS.split(","))
_BROWSE_SQL = (
    "SELECT e.epoch, p.* FROM"
    " (SELECT coalesce((SELECT epoch FROM gig_shuffles WHERE id = 1), 0) AS epoch) e"
    " LEFT JOIN LATERAL ("
    f"  SELECT w.position_key, {GIG_COLUMNS},"
    "   s.venue_id AS card_venue_id, s.completed_gigs, s.past_gigs, s.typical_pay,"
    "   s.avg_rating, s.total_reviews, f.gig_id IS NOT NULL AS is_favorite,"
    "   a.id AS application_id, a.status AS application_status, a.applied_at, a.viewed_at,"
    "   a.responded_at, a.earned_amount"
    "  FROM ({walk}) w"
    "  JOIN gigs g ON g.id = w.id"
    "  LEFT JOIN venue_stats s ON s.venue_id = g.venue_id"
    "  LEFT JOIN gig_favorites f ON f.artist_id = (SELECT id FROM artists WHERE user_id = $1)"
    "   AND f.gig_id = g.id"
    "  LEFT JOIN gig_applications a ON a.artist_id = (SELECT id FROM artists WHERE user_id = $1)"
    "   AND a.gig_id = g.id"
    " ) p ON true"
    " ORDER BY p.position_key, p.id"
)


# The viewer's artist id in a browse statement ($1 is their user id): computed once.
_VIEWER_ARTIST = "(SELECT id FROM artists WHERE user_id = $1)"

# The walk: open gigs along the browse index (shuffle key, id), filtered as they come,
# until a page of matches. Its cost grows as the filter narrows: a city with a date window
# can match one open gig in thousands.
_WALK_SQL = "SELECT g.id, g.{column} AS position_key FROM gigs g WHERE {where}"
_ALONG_THE_RING = _WALK_SQL + " ORDER BY g.{column}, g.id LIMIT {limit}"
# With a city, its matches are first read from gigs_open_city_date_idx, at most CITY_FEW of
# them: fewer means that is all of them, and they are sorted into the page; as many means
# the filter is broad enough for the walk, which then runs instead. Both conditions are
# uncorrelated: Postgres decides them once and runs one arm only (docs/performance.md).
CITY_FEW = 2000
_CITY_FIRST = (
    "WITH few AS MATERIALIZED ("
    "SELECT g.id, g.{column} AS position_key FROM gigs g WHERE {city_where}"
    f" LIMIT {CITY_FEW})"
    f" (SELECT id, position_key FROM few WHERE (SELECT count(*) FROM few) < {CITY_FEW}"
    "  ORDER BY position_key, id LIMIT {limit})"
    f" UNION ALL ({_WALK_SQL} AND (SELECT count(*) FROM few) >= {CITY_FEW}"
    "  ORDER BY g.{column}, g.id LIMIT {limit})"
)


def _indexed(indexed: bool, condition: str) -> str:
    return condition if indexed else f"({condition}) IS TRUE"


@dataclass(frozen=True)
class _Walk:
    """One stretch of a scroll's walk: which key column, which phase, after which row."""

    column: str
    start: int
    phase: int
    after: tuple[int, UUID] | None


async def _walk_rows(
    walk: _Walk, *, artist_user_id: UUID | None, filters: GigFilters, on: date, count: int
) -> tuple[int, list[asyncpg.Record]]:
    """The current shuffle epoch and up to `count` gigs of this stretch, in walk order."""

    def stretch(indexed: frozenset[str], *, first: int) -> Conditions:
        where = _filter_sql(filters, on=on, indexed=indexed, first=first)
        key = "key" in indexed
        # Phase 0 walks keys from the seed up; phase 1 wraps around from 0 to just below it.
        sign = ">=" if walk.phase == 0 else "<"
        where.add(_indexed(key, f"g.{walk.column} {sign} {{}}"), walk.start)
        if walk.after is not None:
            where.add(_indexed(key, f"(g.{walk.column}, g.id) > ({{}}, {{}})"), *walk.after)
        if filters.available:
            where.add(_indexed(False, availability.free_sql(_VIEWER_ARTIST, where.param(on))))
        return where

    along = stretch(frozenset({"key"}), first=2)  # $1 is the artist's user id
    values: list[Any] = [artist_user_id, *along.values]
    parts = {"column": walk.column, "where": along.sql}
    template = _ALONG_THE_RING
    if filters.city:
        in_city = stretch(_CITY_INDEX_COLUMNS, first=len(values) + 1)
        parts["city_where"] = in_city.sql
        values.extend(in_city.values)
        template = _CITY_FIRST
    values.append(count)
    sql = _BROWSE_SQL.format(walk=template.format(**parts, limit=f"${len(values)}"))
    records = await db.fetch(sql, *values)
    return int(records[0]["epoch"]), [row for row in records if row["id"] is not None]


@dataclass(frozen=True)
class ShuffledPage:
    """One page of a scroll (GigBrowsePage): its items already encoded, and its seed.

    Not a ListPage: the cursor holds the whole scroll (seed, epoch, filters, phase and the
    last key), more than one keyset column can say, so it is written out here.
    """

    items: orjson.Fragment
    next_cursor: str | None
    seed: int


def _browse_item(row: asyncpg.Record, card: dict[str, Any]) -> dict[str, Any]:
    """A GigOut's JSON fields from a browse row (tests hold it to GigOut's schema)."""
    item = {name: row[name] for name in _GIG_FIELDS}
    item["venue"] = card
    item["is_favorite"] = row["is_favorite"]
    item["my_application"] = (
        None
        if row["application_id"] is None
        else {
            "id": row["application_id"],
            "status": row["application_status"],
            "applied_at": row["applied_at"],
            "viewed_at": row["viewed_at"],
            "responded_at": row["responded_at"],
            "earned_amount": row["earned_amount"],
        }
    )
    return item


async def list_gigs(
    *,
    settings: Settings,
    caller: Caller,
    filters: GigFilters,
    seed: int | None,
    cursor: str | None,
    limit: int,
) -> ShuffledPage:
    """Open gigs from today on, in this scroll's shuffled order; never a repeat or a gap.

    The items are encoded at once (one statement, no per-row model).
    """
    on = today()
    filters.check()
    if filters.available and not caller.is_artist:
        raise ValidationFailed(
            "available=true hides the dates an artist cannot play: it is for artists only.",
            field="available",
        )
    cursors = Cursors(settings, "gigs")
    position = cursors.decode(cursor)
    fingerprint = filters.fingerprint()
    # The statement finds the artist's marks from the user id itself: no lookup first.
    artist_user_id = caller.user_id if caller.is_artist else None
    if position is None:
        start = secrets.randbelow(SHUFFLE_KEYS) if seed is None else seed
        walk = _Walk("shuffle_key", start, 0, None)
    else:
        if position.get("f") != fingerprint:
            raise ValidationFailed(
                "This cursor belongs to a scroll with other filters. Start again from the "
                "first page.",
                field="cursor",
            )
        start, after = int(position["s"]), position.get("k")
        after_row = None if after is None else (int(after[0]), UUID(after[1]))
        walk = _Walk("shuffle_key", start, int(position["p"]), after_row)

    epoch, found = await _walk_rows(
        walk, artist_user_id=artist_user_id, filters=filters, on=on, count=limit + 1
    )
    epoch_started = epoch if position is None else int(position["e"])
    # A scroll started before the last reshuffle goes on with the keys it began with: the
    # first statement assumed no reshuffle, so once a day one cursor page walks again.
    age = epoch - epoch_started
    if age not in (0, 1):
        raise _reshuffled()
    if age == 1:
        walk = _Walk("previous_shuffle_key", walk.start, walk.phase, walk.after)
        epoch, found = await _walk_rows(
            walk, artist_user_id=artist_user_id, filters=filters, on=on, count=limit + 1
        )
    rows = [(walk.phase, row) for row in found]
    if len(rows) <= limit and walk.phase == 0:
        wrapped = _Walk(walk.column, start, 1, None)
        _, more = await _walk_rows(
            wrapped,
            artist_user_id=artist_user_id,
            filters=filters,
            on=on,
            count=limit + 1 - len(rows),
        )
        rows.extend((1, row) for row in more)

    shown = [row for _, row in rows[:limit]]
    cards = {row["venue_id"]: venue_card_fields(row) for row in shown if row["card_venue_id"]}
    # A venue new since the last venue-stats refresh: its card is computed live (cheap).
    missing = [row["venue_id"] for row in shown if row["venue_id"] not in cards]
    if missing:
        live = await live_venue_cards(missing, on=on)
        cards |= {venue_id: card.model_dump() for venue_id, card in live.items()}

    def _position(entry: tuple[int, asyncpg.Record]) -> dict[str, Any]:
        phase, row = entry
        return {
            "s": start,
            "e": epoch_started,
            "f": fingerprint,
            "p": phase,
            "k": [row["position_key"], str(row["id"])],
        }

    return ShuffledPage(
        items=json_fragment([_browse_item(row, cards[row["venue_id"]]) for row in shown]),
        next_cursor=cursors.next_cursor(rows, limit, _position),
        seed=start,
    )


async def update_shuffle() -> int:
    """Deal every open gig a new shuffle key, keeping the old one (D-014); the new epoch."""
    async with DB.transaction():
        rows = await db.fetch(
            "UPDATE gig_shuffles SET epoch = epoch + 1, refreshed_at = now() WHERE id = 1"
            " RETURNING epoch"
        )
        await db.fetch(
            "UPDATE gigs SET previous_shuffle_key = shuffle_key,"
            " shuffle_key = floor(random() * $1)::integer WHERE status = 'open'",
            SHUFFLE_KEYS,
        )
    return int(rows[0]["epoch"])
