"""Gigs: what venues post and edit, how a gig reads to whoever looks, the urgency flag (D-010).

Browsing the shuffled marketplace (D-014) is in `browse.py`, the venue card each gig shows
in `venue_cards.py`, the gigs an artist saves in `favorites.py`. The booking side lives in
`applications.py` (applying), `bookings.py` (the venue's answers, cancelling) and
`completion.py`.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from redis.asyncio import Redis

from umbrella.accounts.tables import User
from umbrella.config import Settings
from umbrella.core import db, search_cache
from umbrella.core.caller import Caller
from umbrella.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from umbrella.core.pagination import Keyset, ListPage, Pager
from umbrella.core.sql import Conditions
from umbrella.gigs.schemas import (
    GigCreateIn,
    GigOut,
    GigUpdateIn,
    MyApplicationOut,
    VenueGigOut,
)
from umbrella.gigs.venue_cards import venue_cards
from umbrella.piccolo_conf import DB

# D-010: a gig is urgent when it is within 7 days and less than half of it is filled.
URGENCY_DAYS = 7
SHUFFLE_KEYS = 2_147_483_647  # shuffle keys lie in [0, SHUFFLE_KEYS)

# A venue's own gigs go by date, latest first; the cursor keeps the date under "d".
LATEST_DATE_FIRST = Keyset("date", "d", descending=True, parse=date.fromisoformat)


def today() -> date:
    """The marketplace's calendar day: UTC, like every date rule here."""
    return datetime.now(UTC).date()


def urgency_sql(alias: str = "", *, today: str) -> str:
    """D-010 as a SQL expression over a gig row; `today` is the placeholder of today's date."""
    g = f"{alias}." if alias else ""
    return (
        f"({g}status = 'open' AND ({g}date - {today}::date) BETWEEN 0 AND {URGENCY_DAYS}"
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


# -- reading gigs -----------------------------------------------------------------------------


async def _caller_marks(
    caller: Caller, gig_ids: Sequence[UUID]
) -> tuple[set[UUID], dict[UUID, MyApplicationOut]]:
    """Which of these gigs the calling artist saved, and their applications to them."""
    if not gig_ids:
        return set(), {}
    # None without a query for a venue: only an artist's marks show on gigs.
    artist_id = await caller.artist_id()
    if artist_id is None:
        return set(), {}
    ids = list(gig_ids)
    favorites = await db.fetch(
        "SELECT gig_id FROM gig_favorites WHERE artist_id = $1 AND gig_id = ANY($2::uuid[])",
        artist_id,
        ids,
    )
    applications = await db.fetch(
        "SELECT id, gig_id, status, applied_at, viewed_at, responded_at, earned_amount"
        " FROM gig_applications WHERE artist_id = $1 AND gig_id = ANY($2::uuid[])",
        artist_id,
        ids,
    )
    return (
        {row["gig_id"] for row in favorites},
        {row["gig_id"]: MyApplicationOut.model_validate(row) for row in applications},
    )


async def gig_outs(rows: Sequence[dict[str, Any]], *, caller: Caller) -> list[GigOut]:
    """Gig rows as the caller sees them, with each venue's card."""
    cards = await venue_cards([row["venue_id"] for row in rows], on=today())
    favorites, applications = await _caller_marks(caller, [row["id"] for row in rows])
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
    rows = await db.fetch(f"SELECT {GIG_COLUMNS} FROM gigs g WHERE g.id = $1 {lock}", gig_id)
    return rows[0] if rows else None


async def get_gig(*, gig_id: UUID, caller: Caller) -> GigOut:
    """One gig, with the calling artist's application and favorite flag."""
    row = await gig_row(gig_id)
    if row is None:
        raise no_such_gig()
    if row["venue_id"] == caller.user_id:
        return (await _venue_gig_outs([row], caller=caller))[0]
    return (await gig_outs([row], caller=caller))[0]


async def update_urgency_flags(*, on: date) -> int:
    """D-010: set the flag of open gigs within 7 days under half filled, clear the rest."""
    rows = await db.fetch(
        "UPDATE gigs SET urgency_flag = NOT urgency_flag WHERE id IN ("
        # flagged gigs that stopped being urgent (a small set: the partial index on the flag)
        f" SELECT g.id FROM gigs g WHERE g.urgency_flag AND NOT {urgency_sql('g', today='$1')}"
        " UNION ALL"
        # urgent gigs not flagged yet (open gigs of the coming week: the open-date index)
        " SELECT g.id FROM gigs g WHERE g.status = 'open' AND g.date BETWEEN $1 AND $2"
        " AND g.filled_slots * 2 < g.capacity AND NOT g.urgency_flag"
        ") RETURNING id",
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


async def create_gig(*, redis: Redis, caller: Caller, gig: GigCreateIn) -> VenueGigOut:
    """Post a gig (venues only): open, with its urgency known at once."""
    caller.require_venue()
    on = today()
    _check_date(gig.date, on=on)
    _check_times(gig.start_time, gig.end_time)
    venue_name = gig.venue_name
    if venue_name is None:
        user = await User.select(User.display_name).where(User.id == caller.user_id).first()
        venue_name = (user or {}).get("display_name") or None
        if not venue_name:
            raise ValidationFailed("Name the venue.", field="venue_name")
    fields = gig.model_dump()
    fields["venue_name"] = venue_name
    if gig.payment_type == "negotiable" and gig.payment_amount is None:
        fields["payment_amount"] = None
    columns = ", ".join(fields)
    # venue_id, the body's fields, then both shuffle keys: $1 … $n in that order.
    placeholders = ", ".join(f"${number}" for number in range(1, len(fields) + 4))
    async with DB.transaction():
        rows = await db.fetch(
            f"INSERT INTO gigs (venue_id, {columns}, shuffle_key, previous_shuffle_key)"
            f" VALUES ({placeholders}) RETURNING id",
            caller.user_id,
            *fields.values(),
            secrets.randbelow(SHUFFLE_KEYS),
            secrets.randbelow(SHUFFLE_KEYS),
        )
        gig_id = rows[0]["id"]
        await refresh_urgency(gig_id, on=on)
    await search_cache.forget(redis, kind="gigs")
    return await get_venue_gig(gig_id=gig_id, caller=caller)


async def refresh_urgency(gig_id: UUID, *, on: date) -> None:
    await db.fetch(
        f"UPDATE gigs SET urgency_flag = {urgency_sql(today='$1')} WHERE id = $2", on, gig_id
    )


async def own_gig_row(*, gig_id: UUID, caller: Caller, lock: str = "") -> dict[str, Any]:
    """A gig of the calling venue: 404 if there is none, 403 if it is someone else's."""
    row = await gig_row(gig_id, lock=lock)
    if row is None:
        raise no_such_gig()
    if row["venue_id"] != caller.user_id:
        raise Forbidden("This gig belongs to another venue.", field="gig_id")
    return row


async def update_gig(
    *, redis: Redis, caller: Caller, gig_id: UUID, changes: GigUpdateIn
) -> VenueGigOut:
    """Edit a gig that is still open or filled; capacity never drops below the bookings."""
    caller.require_venue()
    sent = changes.model_fields_set
    if not sent:
        raise ValidationFailed("Send at least one field to change.", field="body")
    for required in ("title", "venue_name", "city", "state", "date", "payment_type", "capacity"):
        if required in sent and getattr(changes, required) is None:
            raise ValidationFailed("This field cannot be cleared.", field=required)
    on = today()
    async with DB.transaction():
        row = await own_gig_row(gig_id=gig_id, caller=caller, lock="FOR NO KEY UPDATE")
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
        # the changed fields are $1 … $n (names from GigUpdateIn, never from the client)
        assignments = [f"{name} = ${number}" for number, name in enumerate(new, start=1)]
        await db.fetch(
            f"UPDATE gigs SET {', '.join(assignments)}, status = ${len(new) + 1},"
            f" updated_at = now() WHERE id = ${len(new) + 2}",
            *new.values(),
            status,
            gig_id,
        )
        await refresh_urgency(gig_id, on=on)
    await search_cache.forget(redis, kind="gigs")
    return await get_venue_gig(gig_id=gig_id, caller=caller)


async def _venue_gig_outs(rows: Sequence[dict[str, Any]], *, caller: Caller) -> list[VenueGigOut]:
    if not rows:
        return []
    counts = await db.fetch(
        "SELECT gig_id, status, count(*) AS n FROM gig_applications"
        " WHERE gig_id = ANY($1::uuid[]) GROUP BY gig_id, status",
        [row["id"] for row in rows],
    )
    by_gig: dict[UUID, dict[str, int]] = {}
    for count in counts:
        by_gig.setdefault(count["gig_id"], {})[count["status"]] = int(count["n"])
    outs = await gig_outs(rows, caller=caller)
    return [
        VenueGigOut(
            **out.model_dump(),
            pending_applications=by_gig.get(out.id, {}).get("pending", 0),
            accepted_applications=by_gig.get(out.id, {}).get("accepted", 0),
            rejected_applications=by_gig.get(out.id, {}).get("rejected", 0),
        )
        for out in outs
    ]


async def get_venue_gig(*, gig_id: UUID, caller: Caller) -> VenueGigOut:
    """One of the calling venue's gigs, with its application counts."""
    caller.require_venue()
    row = await own_gig_row(gig_id=gig_id, caller=caller)
    return (await _venue_gig_outs([row], caller=caller))[0]


async def list_venue_gigs(
    *,
    settings: Settings,
    caller: Caller,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> ListPage[VenueGigOut]:
    """The calling venue's gigs, latest date first."""
    caller.require_venue()
    pager = Pager(settings, "venue-gigs", cursor=cursor, limit=limit, keyset=LATEST_DATE_FIRST)
    where = Conditions()
    where.add("g.venue_id = {}", caller.user_id)
    if status is not None:
        where.add("g.status = {}", status)
    pager.narrow(where, alias="g")
    rows = await db.fetch(
        f"SELECT {GIG_COLUMNS} FROM gigs g WHERE {where.sql}"
        f" ORDER BY {pager.order_by('g')} LIMIT {where.param(pager.fetch)}",
        *where.values,
    )
    # The counts and cards come in batches for the whole page, then each row takes its own.
    outs = {out.id: out for out in await _venue_gig_outs(rows[: pager.limit], caller=caller)}
    return pager.page(rows, lambda row: outs[row["id"]])
