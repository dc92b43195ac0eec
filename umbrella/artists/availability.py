"""Unavailable dates (docs/profiles.md): days and ranges an artist cannot play.

Gigs refuse an application or a booking on them and browse can hide them
(`umbrella/gigs/availability.py`); `unavailable_on` is the question other code asks.

Adding an entry takes the artist's booking lock (the advisory lock `gigs/bookings.py` takes
while it checks an artist's bookings), so an entry and a booking made at the same moment are
decided one after the other: a venue never books a day the artist has just marked.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from umbrella.artists.schemas import DeletedOut, UnavailabilityIn, UnavailabilityOut
from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.errors import Conflict, NotFound, ValidationFailed
from umbrella.core.pagination import Keyset, ListPage, Pager
from umbrella.core.sql import Conditions
from umbrella.piccolo_conf import DB

# (ours) Far enough for a tour booked a season ahead; a date further out is a typo.
MAX_DAYS_AHEAD = 2 * 365
# (ours) Upcoming entries per artist: a busy calendar is a few dozen; this stops a runaway client.
MAX_UPCOMING = 200
# Upcoming entries, soonest first (cursor key "on").
# The lock `gigs/bookings.py` holds while it checks an artist's bookings (same key).
BOOKING_LOCK_SQL = (
    "SELECT pg_advisory_xact_lock(hashtextextended('umbrella.booking:' || $1::uuid::text, 0))"
)
SOONEST_FIRST = Keyset("starts_on", "on", descending=False, parse=date.fromisoformat)

_COLUMNS = "u.id, u.starts_on AS start_date, u.ends_on AS end_date, u.note, u.created_at"
NO_SUCH_ENTRY = "No such unavailable date."


def today() -> date:
    """The marketplace's calendar day (UTC), which gig dates are compared in."""
    return datetime.now(UTC).date()


def long_date(day: date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def span_text(start: date, end: date) -> str:
    """A day ("December 10, 2026") or a range ("December 10, 2026 to December 12, 2026")."""
    return long_date(start) if start == end else f"{long_date(start)} to {long_date(end)}"


def _checked_span(entry: UnavailabilityIn, *, on: date) -> tuple[date, date]:
    start, end = entry.start_date, entry.end_date or entry.start_date
    if start < on:
        raise ValidationFailed(
            "The first unavailable day must not be in the past.", field="start_date"
        )
    if end < start:
        raise ValidationFailed("end_date must not be before start_date.", field="end_date")
    if end > on + timedelta(days=MAX_DAYS_AHEAD):
        raise ValidationFailed(
            f"Unavailable dates go at most {MAX_DAYS_AHEAD // 365} years ahead.",
            field="end_date" if entry.end_date is not None else "start_date",
        )
    return start, end


async def create_unavailability(
    *, caller: Caller, entry: UnavailabilityIn, on: date | None = None
) -> UnavailabilityOut:
    """Mark a day or a range as unavailable; one overlapping an entry already there is refused."""
    artist_id = await caller.require_artist()
    on = on or today()
    start, end = _checked_span(entry, on=on)
    async with DB.transaction():
        await db.fetch(BOOKING_LOCK_SQL, artist_id)
        rows = await db.fetch(
            "SELECT count(*) AS upcoming,"
            " (array_agg(u.starts_on ORDER BY u.starts_on)"
            "   FILTER (WHERE u.starts_on <= $3 AND u.ends_on >= $2))[1] AS clash_start,"
            " (array_agg(u.ends_on ORDER BY u.starts_on)"
            "   FILTER (WHERE u.starts_on <= $3 AND u.ends_on >= $2))[1] AS clash_end"
            " FROM artist_unavailability u WHERE u.artist_id = $1 AND u.ends_on >= $4",
            artist_id,
            start,
            end,
            on,
        )
        found = rows[0]
        if found["clash_start"] is not None:
            raise Conflict(
                "You already marked "
                f"{span_text(found['clash_start'], found['clash_end'])} as unavailable.",
                field="start_date",
            )
        if found["upcoming"] >= MAX_UPCOMING:
            raise Conflict(
                f"You can keep at most {MAX_UPCOMING} upcoming unavailable dates.",
                field="start_date",
            )
        inserted = await db.fetch(
            "INSERT INTO artist_unavailability AS u (artist_id, starts_on, ends_on, note)"
            f" VALUES ($1, $2, $3, $4) RETURNING {_COLUMNS}",
            artist_id,
            start,
            end,
            entry.note,
        )
    return UnavailabilityOut.model_validate(inserted[0])


async def list_unavailability(
    *, settings: Settings, caller: Caller, cursor: str | None, limit: int
) -> ListPage[UnavailabilityOut]:
    """The caller's unavailable dates from today on, soonest first."""
    artist_id = await caller.require_artist()
    pager = Pager(settings, "unavailability", cursor=cursor, limit=limit, keyset=SOONEST_FIRST)
    where = Conditions()
    where.add("u.artist_id = {}", artist_id)
    where.add("u.ends_on >= {}", today())
    pager.narrow(where, alias="u")
    rows = await db.fetch(
        f"SELECT {_COLUMNS}, u.starts_on FROM artist_unavailability u WHERE {where.sql}"
        f" ORDER BY {pager.order_by('u')} LIMIT {where.param(pager.fetch)}",
        *where.values,
    )
    return pager.page(rows, UnavailabilityOut.model_validate)


async def delete_unavailability(*, caller: Caller, entry_id: UUID) -> DeletedOut:
    """Remove one of the caller's unavailable dates; anyone else's is not found."""
    artist_id = await caller.require_artist()
    rows = await db.fetch(
        "DELETE FROM artist_unavailability WHERE id = $1 AND artist_id = $2 RETURNING id",
        entry_id,
        artist_id,
    )
    if not rows:
        raise NotFound(NO_SUCH_ENTRY, field="entry_id")
    return DeletedOut(id=entry_id, deleted=True)


async def unavailable_on(*, artist_id: UUID, day: date) -> UnavailabilityOut | None:
    """The artist's entry covering `day`, if they marked it unavailable."""
    rows: list[dict[str, Any]] = await db.fetch(
        f"SELECT {_COLUMNS} FROM artist_unavailability u"
        " WHERE u.artist_id = $1 AND u.ends_on >= $2 AND u.starts_on <= $2"
        " ORDER BY u.starts_on LIMIT 1",
        artist_id,
        day,
    )
    return UnavailabilityOut.model_validate(rows[0]) if rows else None
