"""Gigs: what venues post, the shuffled marketplace artists scroll (D-014), favorites.

The booking side (applications, accepts, completion) lives in `bookings.py`.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

import asyncpg
from redis.asyncio import Redis

from umbrella.accounts.tables import User
from umbrella.artists import service as artists_service
from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.sql import Conditions
from umbrella.gigs.schemas import (
    FavoriteGigOut,
    FavoriteOut,
    GigCreateIn,
    GigOut,
    GigUpdateIn,
    MyApplicationOut,
    VenueCardOut,
    VenueGigOut,
)
from umbrella.gigs.tables import Gig, GigShuffle, VenueStats
from umbrella.piccolo_conf import DB
from umbrella.search import cache as search_cache
from umbrella.web.envelope import json_fragment
from umbrella.web.errors import Conflict, Forbidden, NotFound, ValidationFailed
from umbrella.web.pagination import Cursors

# D-010: a gig is urgent when it is within 7 days and less than half of it is filled.
URGENCY_DAYS = 7
SHUFFLE_KEYS = 2_147_483_647  # shuffle keys lie in [0, SHUFFLE_KEYS)

NOT_A_VENUE = "Only venue accounts post and manage gigs."
NOT_AN_ARTIST = "Only artists apply to gigs and save them."


def today() -> date:
    """The marketplace's calendar day: UTC, like every date rule here."""
    return datetime.now(UTC).date()


def urgency_sql(alias: str = "") -> str:
    """D-010 as a SQL expression over a gig row; its one parameter (`{}`) is today's date."""
    g = f"{alias}." if alias else ""
    return (
        f"({g}status = 'open' AND ({g}date - {{}}::date) BETWEEN 0 AND {URGENCY_DAYS}"
        f" AND {g}filled_slots * 2 < {g}capacity)"
    )


def no_such_gig() -> NotFound:
    return NotFound("No such gig.", field="gig_id")


GIG_COLUMNS = (
    "g.id, g.venue_id, g.title, g.description, g.venue_name, g.city, g.state, g.address,"
    " g.zip, g.date, g.start_time, g.end_time, g.genre, g.payment_amount, g.payment_type,"
    " g.capacity, g.filled_slots, g.urgency_flag, g.status, g.created_at, g.updated_at,"
    " g.completed_at, g.cancelled_at"
)


def when(gig: dict[str, Any]) -> str:
    """A gig's date and start as a reader sees it: "Sat, December 12, 2026, 9:00 PM"."""
    day: date = gig["date"]
    shown = f"{day:%a}, {day:%B} {day.day}, {day.year}"
    start: time | None = gig.get("start_time")
    if start is not None:
        hour = start.hour % 12 or 12
        shown += f", {hour}:{start.minute:02d} {'AM' if start.hour < 12 else 'PM'}"
    return shown


def gig_url(settings: Settings, gig_id: UUID) -> str:
    return f"{settings.app_url.rstrip('/')}/gigs/{gig_id}"


# -- who is calling ---------------------------------------------------------------------------


async def _require_artist(*, user_id: UUID, role: str) -> UUID:
    if role != "artist":
        raise Forbidden(NOT_AN_ARTIST)
    artist_id = await artists_service.get_artist_id(user_id=user_id)
    if artist_id is None:
        raise Forbidden("Finish your artist profile first.", field="onboarding")
    return artist_id


def _require_venue(role: str) -> None:
    if role != "venue":
        raise Forbidden(NOT_A_VENUE)


# -- reading gigs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """Who looks at gigs: the artist's favorites and applications show on each gig."""

    user_id: UUID
    artist_id: UUID | None = None


async def viewer_of(*, user_id: UUID, role: str) -> Viewer:
    """The caller as a viewer of gigs."""
    artist_id = await artists_service.get_artist_id(user_id=user_id) if role == "artist" else None
    return Viewer(user_id=user_id, artist_id=artist_id)


def _money(value: Any) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# The card's formulas (ours) over a venue's gigs `g` and its reviews `vr`, shared by the live
# computation and the venue-stats refresh so the two cannot drift apart. The one parameter
# of the gig numbers is today's date.
_GIG_NUMBERS = (
    "count(*) FILTER (WHERE g.status = 'completed') AS completed_gigs,"
    " count(*) FILTER (WHERE g.date < {} OR g.status = 'completed') AS past_gigs,"
    " percentile_cont(0.5) WITHIN GROUP (ORDER BY g.payment_amount)"
    "   FILTER (WHERE g.payment_type = 'flat' AND g.status <> 'cancelled') AS typical_pay"
)
_REVIEW_NUMBERS = "round(avg(vr.rating), 2) AS avg_rating, count(*) AS total_reviews"
_CARD_COLUMNS = "completed_gigs, past_gigs, typical_pay, avg_rating, total_reviews"

# Every venue's numbers at once: one pass over all gigs and all reviews, grouped by venue.
_ALL_VENUE_NUMBERS = (
    "SELECT venue_id, coalesce(g.completed_gigs, 0) AS completed_gigs,"
    " coalesce(g.past_gigs, 0) AS past_gigs, g.typical_pay, r.avg_rating,"
    " coalesce(r.total_reviews, 0) AS total_reviews"
    f" FROM (SELECT g.venue_id, {_GIG_NUMBERS} FROM gigs g GROUP BY g.venue_id) g"
    f" FULL JOIN (SELECT vr.venue_user_id AS venue_id, {_REVIEW_NUMBERS}"
    " FROM venue_reviews vr GROUP BY vr.venue_user_id) r USING (venue_id)"
)


def _live_venue_numbers_sql() -> str:
    """The card numbers of the venues in an array (first parameter), read from their gigs."""
    return (
        "SELECT v.venue_id, s.completed_gigs, s.past_gigs, s.typical_pay,"
        " r.avg_rating, coalesce(r.total_reviews, 0) AS total_reviews"
        " FROM unnest({}::uuid[]) AS v(venue_id)"
        f" LEFT JOIN LATERAL (SELECT {_GIG_NUMBERS}"
        "   FROM gigs g WHERE g.venue_id = v.venue_id) s ON true"
        f" LEFT JOIN LATERAL (SELECT {_REVIEW_NUMBERS}"
        "   FROM venue_reviews vr WHERE vr.venue_user_id = v.venue_id) r ON true"
    )


def _venue_card_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """A venue card's fields from its numbers (a venue_stats row or the live computation)."""
    completed, past = int(row["completed_gigs"] or 0), int(row["past_gigs"] or 0)
    return {
        "venue_id": row["venue_id"],
        "completed_gigs": completed,
        "past_gigs": past,
        "completion_rate": round(completed / past, 3) if past else None,
        "typical_pay": _money(row["typical_pay"]),
        "avg_rating": row["avg_rating"],
        "total_reviews": int(row["total_reviews"]),
    }


def _venue_card(row: Mapping[str, Any]) -> VenueCardOut:
    return VenueCardOut(**_venue_card_fields(row))


async def live_venue_cards(venue_ids: Sequence[UUID], *, on: date) -> dict[UUID, VenueCardOut]:
    """Venue cards computed from every gig and review of each venue (cost grows with them)."""
    if not venue_ids:
        return {}
    rows = await Gig.raw(_live_venue_numbers_sql(), list(dict.fromkeys(venue_ids)), on)
    return {row["venue_id"]: _venue_card(row) for row in rows}


async def venue_cards(venue_ids: Sequence[UUID], *, on: date) -> dict[UUID, VenueCardOut]:
    """Each venue's record (ours): completed gigs, completion rate, typical pay, rating."""
    if not venue_ids:
        return {}
    wanted = list(dict.fromkeys(venue_ids))
    # One primary-key read per venue, whatever its number of gigs (up to 15 minutes old).
    rows = await VenueStats.raw(
        f"SELECT venue_id, {_CARD_COLUMNS} FROM venue_stats WHERE venue_id = ANY({{}}::uuid[])",
        wanted,
    )
    cards = {row["venue_id"]: _venue_card(row) for row in rows}
    # A venue new since the last refresh has few gigs: its card is cheap to compute live.
    missing = [venue_id for venue_id in wanted if venue_id not in cards]
    return cards | await live_venue_cards(missing, on=on)


async def update_venue_stats(*, on: date) -> int:
    """Recompute every venue's card numbers in one statement; the number of venues."""
    # refreshed_at is now(), this statement's start: a row update_one_venue_stats rewrote
    # after it began (a completion, a cancel) keeps its newer numbers.
    rows = await VenueStats.raw(
        f"WITH fresh AS ({_ALL_VENUE_NUMBERS}),"
        # a venue whose gigs and reviews are all gone (rare: deleting the user cascades)
        " gone AS (DELETE FROM venue_stats s"
        "   WHERE NOT EXISTS (SELECT 1 FROM fresh f WHERE f.venue_id = s.venue_id)),"
        " upserted AS ("
        f"   INSERT INTO venue_stats AS s (venue_id, {_CARD_COLUMNS}, refreshed_at)"
        f"   SELECT venue_id, {_CARD_COLUMNS}, now() FROM fresh"
        "   ON CONFLICT (venue_id) DO UPDATE SET completed_gigs = excluded.completed_gigs,"
        "     past_gigs = excluded.past_gigs, typical_pay = excluded.typical_pay,"
        "     avg_rating = excluded.avg_rating, total_reviews = excluded.total_reviews,"
        "     refreshed_at = excluded.refreshed_at"
        "   WHERE s.refreshed_at <= excluded.refreshed_at"
        "   RETURNING 1)"
        " SELECT count(*) AS venues FROM upserted",
        on,
    )
    return int(rows[0]["venues"])


async def update_one_venue_stats(*, venue_id: UUID, on: date) -> None:
    """Bring a venue's card numbers up to date now, if it has a venue_stats row already."""
    # A venue without a row stays on the live path until the next refresh adds it.
    await VenueStats.raw(
        "UPDATE venue_stats s SET completed_gigs = f.completed_gigs,"
        " past_gigs = f.past_gigs, typical_pay = f.typical_pay, avg_rating = f.avg_rating,"
        " total_reviews = f.total_reviews, refreshed_at = now()"
        f" FROM ({_live_venue_numbers_sql()}) f WHERE s.venue_id = f.venue_id",
        [venue_id],
        on,
    )


async def _viewer_marks(
    viewer: Viewer, gig_ids: Sequence[UUID]
) -> tuple[set[UUID], dict[UUID, MyApplicationOut]]:
    """Which of these gigs the artist saved, and their applications to them."""
    if viewer.artist_id is None or not gig_ids:
        return set(), {}
    ids = list(gig_ids)
    favorites = await Gig.raw(
        "SELECT gig_id FROM gig_favorites WHERE artist_id = {} AND gig_id = ANY({}::uuid[])",
        viewer.artist_id,
        ids,
    )
    applications = await Gig.raw(
        "SELECT id, gig_id, status, applied_at, viewed_at, responded_at, earned_amount"
        " FROM gig_applications WHERE artist_id = {} AND gig_id = ANY({}::uuid[])",
        viewer.artist_id,
        ids,
    )
    return (
        {row["gig_id"] for row in favorites},
        {row["gig_id"]: MyApplicationOut.model_validate(row) for row in applications},
    )


async def gig_outs(rows: Sequence[dict[str, Any]], *, viewer: Viewer) -> list[GigOut]:
    """Gig rows as the viewer sees them, with each venue's card."""
    cards = await venue_cards([row["venue_id"] for row in rows], on=today())
    favorites, applications = await _viewer_marks(viewer, [row["id"] for row in rows])
    return [
        GigOut.model_validate(
            {
                **row,
                "venue": cards[row["venue_id"]],
                "is_favorite": row["id"] in favorites,
                "my_application": applications.get(row["id"]),
            }
        )
        for row in rows
    ]


async def gig_row(gig_id: UUID, *, lock: str = "") -> dict[str, Any] | None:
    """One gig's columns; `lock` is a row-lock clause such as "FOR UPDATE"."""
    rows = await Gig.raw(f"SELECT {GIG_COLUMNS} FROM gigs g WHERE g.id = {{}} {lock}", gig_id)
    return rows[0] if rows else None


async def get_gig(*, gig_id: UUID, viewer: Viewer) -> GigOut:
    """One gig, with the calling artist's application and favorite flag."""
    row = await gig_row(gig_id)
    if row is None:
        raise no_such_gig()
    if row["venue_id"] == viewer.user_id:
        return (await _venue_gig_outs([row], viewer=viewer))[0]
    return (await gig_outs([row], viewer=viewer))[0]


# -- browsing (D-014) -------------------------------------------------------------------------


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
        return hashlib.sha256(shown.encode()).hexdigest()[:16]


# A browse statement names the index it means to read: every other condition is written as
# `(condition) IS TRUE`, which means the same in a WHERE but is no index condition. So
# the planner cannot trade the walk for a date, genre or city index on an estimate (status
# and date are correlated: it underestimates a date window of open gigs a hundredfold, and a
# bitmap of 15,000 rows sorted took 85 ms where the walk takes 0.3 ms).
# gigs_open_city_date_idx: lower(city), then date.
_CITY_INDEX_COLUMNS = frozenset({"city", "date"})


def _filter_sql(
    filters: GigFilters, *, on: date, indexed: frozenset[str] = frozenset()
) -> Conditions:
    """The filters as conditions; those on the columns in `indexed` may use an index."""
    where = Conditions()

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

    def stretch(indexed: frozenset[str]) -> Conditions:
        where = _filter_sql(filters, on=on, indexed=indexed)
        key = "key" in indexed
        # Phase 0 walks keys from the seed up; phase 1 wraps around from 0 to just below it.
        sign = ">=" if walk.phase == 0 else "<"
        where.add(_indexed(key, f"g.{walk.column} {sign} {{}}"), walk.start)
        if walk.after is not None:
            where.add(_indexed(key, f"(g.{walk.column}, g.id) > ({{}}, {{}})"), *walk.after)
        return where

    along = stretch(frozenset({"key"}))
    values: list[Any] = [artist_user_id, *along.values]
    parts = {"column": walk.column, "where": along.numbered(2)}
    template = _ALONG_THE_RING
    if filters.city:
        in_city = stretch(_CITY_INDEX_COLUMNS)
        parts["city_where"] = in_city.numbered(len(values) + 1)
        values.extend(in_city.values)
        template = _CITY_FIRST
    values.append(count)
    sql = _BROWSE_SQL.format(walk=template.format(**parts, limit=f"${len(values)}"))
    records = await db.fetch(sql, *values)
    return int(records[0]["epoch"]), [row for row in records if row["id"] is not None]


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
    user_id: UUID,
    role: str,
    filters: GigFilters,
    seed: int | None,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """Open gigs from today on, in this scroll's shuffled order; never a repeat or a gap.

    The page is a GigBrowsePage, its items already encoded (one statement, no per-row model).
    """
    on = today()
    filters.check()
    cursors = Cursors(settings, "gigs")
    position = cursors.decode(cursor)
    fingerprint = filters.fingerprint()
    artist_user_id = user_id if role == "artist" else None
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
    cards = {row["venue_id"]: _venue_card_fields(row) for row in shown if row["card_venue_id"]}
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

    return {
        "items": json_fragment([_browse_item(row, cards[row["venue_id"]]) for row in shown]),
        "next_cursor": cursors.next_cursor(rows, limit, _position),
        "seed": start,
    }


async def update_shuffle() -> int:
    """Deal every open gig a new shuffle key, keeping the old one (D-014); the new epoch."""
    async with DB.transaction():
        rows = await GigShuffle.raw(
            "UPDATE gig_shuffles SET epoch = epoch + 1, refreshed_at = now() WHERE id = 1"
            " RETURNING epoch"
        )
        await Gig.raw(
            "UPDATE gigs SET previous_shuffle_key = shuffle_key,"
            " shuffle_key = floor(random() * {})::integer WHERE status = 'open'",
            SHUFFLE_KEYS,
        )
    return int(rows[0]["epoch"])


async def update_urgency_flags(*, on: date) -> int:
    """D-010: set the flag of open gigs within 7 days under half filled, clear the rest."""
    rows = await Gig.raw(
        "UPDATE gigs SET urgency_flag = NOT urgency_flag WHERE id IN ("
        # flagged gigs that stopped being urgent (a small set: the partial index on the flag)
        f" SELECT g.id FROM gigs g WHERE g.urgency_flag AND NOT {urgency_sql('g')}"
        " UNION ALL"
        # urgent gigs not flagged yet (open gigs of the coming week: the open-date index)
        " SELECT g.id FROM gigs g WHERE g.status = 'open' AND g.date BETWEEN {} AND {}"
        " AND g.filled_slots * 2 < g.capacity AND NOT g.urgency_flag"
        ") RETURNING id",
        on,
        on,
        on + timedelta(days=URGENCY_DAYS),
    )
    return len(rows)


# -- the venue side ---------------------------------------------------------------------------


def _check_times(start: time | None, end: time | None) -> None:
    if start is not None and end is not None and end <= start:
        raise ValidationFailed("The gig must end after it starts.", field="end_time")
    if end is not None and start is None:
        raise ValidationFailed("Give a start time with the end time.", field="start_time")


def _check_date(day: date, *, on: date) -> None:
    if day < on:
        raise ValidationFailed("The gig's date must not be in the past.", field="date")


async def create_gig(*, redis: Redis, user_id: UUID, role: str, gig: GigCreateIn) -> VenueGigOut:
    """Post a gig (venues only): open, with its urgency known at once."""
    _require_venue(role)
    on = today()
    _check_date(gig.date, on=on)
    _check_times(gig.start_time, gig.end_time)
    venue_name = gig.venue_name
    if venue_name is None:
        user = await User.select(User.display_name).where(User.id == user_id).first()
        venue_name = (user or {}).get("display_name") or None
        if not venue_name:
            raise ValidationFailed("Name the venue.", field="venue_name")
    fields = gig.model_dump()
    fields["venue_name"] = venue_name
    if gig.payment_type == "negotiable" and gig.payment_amount is None:
        fields["payment_amount"] = None
    columns = ", ".join(fields)
    async with DB.transaction():
        rows = await Gig.raw(
            f"INSERT INTO gigs (venue_id, {columns}, shuffle_key, previous_shuffle_key)"
            f" VALUES ({{}}, {', '.join('{}' for _ in fields)}, {{}}, {{}}) RETURNING id",
            user_id,
            *fields.values(),
            secrets.randbelow(SHUFFLE_KEYS),
            secrets.randbelow(SHUFFLE_KEYS),
        )
        gig_id = rows[0]["id"]
        await refresh_urgency(gig_id, on=on)
    await search_cache.forget(redis, kind="gigs")
    return await get_venue_gig(gig_id=gig_id, user_id=user_id, role=role)


async def refresh_urgency(gig_id: UUID, *, on: date) -> None:
    await Gig.raw(f"UPDATE gigs SET urgency_flag = {urgency_sql()} WHERE id = {{}}", on, gig_id)


async def own_gig_row(*, gig_id: UUID, user_id: UUID, lock: str = "") -> dict[str, Any]:
    """A gig of the calling venue: 404 if there is none, 403 if it is someone else's."""
    row = await gig_row(gig_id, lock=lock)
    if row is None:
        raise no_such_gig()
    if row["venue_id"] != user_id:
        raise Forbidden("This gig belongs to another venue.", field="gig_id")
    return row


async def update_gig(
    *, redis: Redis, user_id: UUID, role: str, gig_id: UUID, changes: GigUpdateIn
) -> VenueGigOut:
    """Edit a gig that is still open or filled; capacity never drops below the bookings."""
    _require_venue(role)
    sent = changes.model_fields_set
    if not sent:
        raise ValidationFailed("Send at least one field to change.", field="body")
    for required in ("title", "venue_name", "city", "state", "date", "payment_type", "capacity"):
        if required in sent and getattr(changes, required) is None:
            raise ValidationFailed("This field cannot be cleared.", field=required)
    on = today()
    async with DB.transaction():
        row = await own_gig_row(gig_id=gig_id, user_id=user_id, lock="FOR NO KEY UPDATE")
        if row["status"] in ("cancelled", "completed"):
            raise Conflict(f"A {row['status']} gig cannot be edited.", field="status")
        if row["date"] < on:
            raise Conflict("A gig whose date has passed cannot be edited.", field="date")
        new = {name: getattr(changes, name) for name in sent}
        merged = {**row, **new}
        if "date" in new:
            _check_date(merged["date"], on=on)
        _check_times(merged["start_time"], merged["end_time"])
        if merged["payment_type"] != "negotiable" and merged["payment_amount"] is None:
            raise ValidationFailed(
                "payment_amount is required unless payment_type is negotiable.",
                field="payment_amount",
            )
        if merged["capacity"] < row["filled_slots"]:
            raise ValidationFailed(
                f"{row['filled_slots']} artists are booked already: capacity cannot go below.",
                field="capacity",
            )
        status = "filled" if merged["filled_slots"] >= merged["capacity"] else "open"
        assignments = [f"{name} = {{}}" for name in new]
        await Gig.raw(
            f"UPDATE gigs SET {', '.join(assignments)}, status = {{}}, updated_at = now()"
            " WHERE id = {}",
            *new.values(),
            status,
            gig_id,
        )
        await refresh_urgency(gig_id, on=on)
    await search_cache.forget(redis, kind="gigs")
    return await get_venue_gig(gig_id=gig_id, user_id=user_id, role=role)


async def _venue_gig_outs(rows: Sequence[dict[str, Any]], *, viewer: Viewer) -> list[VenueGigOut]:
    if not rows:
        return []
    counts = await Gig.raw(
        "SELECT gig_id, status, count(*) AS n FROM gig_applications"
        " WHERE gig_id = ANY({}::uuid[]) GROUP BY gig_id, status",
        [row["id"] for row in rows],
    )
    by_gig: dict[UUID, dict[str, int]] = {}
    for count in counts:
        by_gig.setdefault(count["gig_id"], {})[count["status"]] = int(count["n"])
    outs = await gig_outs(rows, viewer=viewer)
    return [
        VenueGigOut(
            **out.model_dump(),
            pending_applications=by_gig.get(out.id, {}).get("pending", 0),
            accepted_applications=by_gig.get(out.id, {}).get("accepted", 0),
            rejected_applications=by_gig.get(out.id, {}).get("rejected", 0),
        )
        for out in outs
    ]


async def get_venue_gig(*, gig_id: UUID, user_id: UUID, role: str) -> VenueGigOut:
    """One of the calling venue's gigs, with its application counts."""
    _require_venue(role)
    row = await own_gig_row(gig_id=gig_id, user_id=user_id)
    return (await _venue_gig_outs([row], viewer=Viewer(user_id=user_id)))[0]


async def list_venue_gigs(
    *,
    settings: Settings,
    user_id: UUID,
    role: str,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """The calling venue's gigs, latest date first."""
    _require_venue(role)
    cursors = Cursors(settings, "venue-gigs")
    position = cursors.decode(cursor)
    where = Conditions()
    where.add("g.venue_id = {}", user_id)
    if status is not None:
        where.add("g.status = {}", status)
    if position is not None:
        where.add(
            "(g.date, g.id) < ({}, {})", date.fromisoformat(position["d"]), UUID(position["id"])
        )
    rows = await Gig.raw(
        f"SELECT {GIG_COLUMNS} FROM gigs g WHERE {where.sql}"
        " ORDER BY g.date DESC, g.id DESC LIMIT {}",
        *where.values,
        limit + 1,
    )
    return {
        "items": await _venue_gig_outs(rows[:limit], viewer=Viewer(user_id=user_id)),
        "next_cursor": cursors.next_cursor(
            rows, limit, lambda row: {"d": row["date"].isoformat(), "id": str(row["id"])}
        ),
    }


# -- favorites --------------------------------------------------------------------------------


async def create_favorite(*, user_id: UUID, role: str, gig_id: UUID) -> FavoriteOut:
    """Save a gig (again: no change, same answer)."""
    artist_id = await _require_artist(user_id=user_id, role=role)
    try:
        await Gig.raw(
            "INSERT INTO gig_favorites (gig_id, artist_id) VALUES ({}, {})"
            " ON CONFLICT ON CONSTRAINT gig_favorites_gig_id_artist_id_key DO NOTHING",
            gig_id,
            artist_id,
        )
    except asyncpg.ForeignKeyViolationError:
        raise no_such_gig() from None
    return FavoriteOut(gig_id=gig_id, favorite=True)


async def delete_favorite(*, user_id: UUID, role: str, gig_id: UUID) -> FavoriteOut:
    """Forget a saved gig (again: no change, same answer)."""
    artist_id = await _require_artist(user_id=user_id, role=role)
    await Gig.raw(
        "DELETE FROM gig_favorites WHERE gig_id = {} AND artist_id = {}", gig_id, artist_id
    )
    return FavoriteOut(gig_id=gig_id, favorite=False)


async def list_favorites(
    *, settings: Settings, user_id: UUID, role: str, cursor: str | None, limit: int
) -> dict[str, Any]:
    """The gigs the calling artist saved, most recently saved first."""
    artist_id = await _require_artist(user_id=user_id, role=role)
    cursors = Cursors(settings, "favorites")
    position = cursors.decode(cursor)
    after, values = "", []
    if position is not None:
        after = " AND (f.created_at, f.id) < ({}, {})"
        values = [datetime.fromisoformat(position["at"]), UUID(position["id"])]
    rows = await Gig.raw(
        f"SELECT {GIG_COLUMNS}, f.id AS favorite_id, f.created_at AS saved_at"
        " FROM gig_favorites f JOIN gigs g ON g.id = f.gig_id"
        " WHERE f.artist_id = {}" + after + " ORDER BY f.created_at DESC, f.id DESC LIMIT {}",
        artist_id,
        *values,
        limit + 1,
    )
    shown = rows[:limit]
    gigs = await gig_outs(shown, viewer=Viewer(user_id=user_id, artist_id=artist_id))
    return {
        "items": [
            FavoriteGigOut(gig=gig, saved_at=row["saved_at"])
            for gig, row in zip(gigs, shown, strict=True)
        ],
        "next_cursor": cursors.next_cursor(
            rows,
            limit,
            lambda row: {"at": row["saved_at"].isoformat(), "id": str(row["favorite_id"])},
        ),
    }
