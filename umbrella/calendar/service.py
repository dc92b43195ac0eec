"""Calendar feeds: a secret link per user that serves their gigs as iCalendar (RFC 5545).

The link carries a 32-byte random token and only its SHA-256 is stored, so the link is
shown once; making a new one overwrites the hash, and the old link stops working at once.
Calendar apps poll the feed without a session: the token is the only credential.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import asyncpg

from umbrella.accounts.service import hash_token
from umbrella.calendar import ics
from umbrella.calendar.schemas import CalendarFeedOut, CalendarTokenOut
from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.errors import Forbidden, NotFound, Unauthorized

TOKEN_BYTES = 32
# token_urlsafe(32) is 43 characters; anything much longer is not one of ours
MAX_TOKEN_CHARS = 128
FEED_ROLES = ("artist", "venue")
FEED_PAST = timedelta(days=90)
FEED_MAX_EVENTS = 500
# Calendars poll every few minutes: remembering each fetch would be a write per poll.
LAST_USED_EVERY = timedelta(hours=1)
CALENDAR_NAME = "Umbrella gigs"

_GIG_COLUMNS = (
    "g.id, g.title, g.description, g.venue_name, g.address, g.city, g.state, g.zip, g.date,"
    " g.start_time, g.end_time, g.payment_amount, g.payment_type, g.status, g.created_at,"
    " g.updated_at"
)
# Parameters of both: $1 the feed's user, $2 the first date shown, $3 how many gigs at most.
_GIG_ORDER = "ORDER BY g.date, g.start_time NULLS FIRST, g.id LIMIT $3"
# An artist's gigs are those the venue accepted them for; a cancelled one stays listed
# (its application stays accepted) so subscribed calendars mark it cancelled.
_ARTIST_GIGS = (
    f"SELECT {_GIG_COLUMNS} FROM gig_applications a"
    " JOIN artists ar ON ar.id = a.artist_id JOIN gigs g ON g.id = a.gig_id"
    f" WHERE ar.user_id = $1 AND a.status = 'accepted' AND g.date >= $2 {_GIG_ORDER}"
)
_VENUE_GIGS = (
    f"SELECT {_GIG_COLUMNS} FROM gigs g WHERE g.venue_id = $1 AND g.date >= $2 {_GIG_ORDER}"
)


def _no_such_feed() -> NotFound:
    return NotFound("No such calendar feed: the link was replaced or turned off.", field="token")


def feed_url(settings: Settings, token: str) -> str:
    """The public URL of a feed (token_urlsafe needs no quoting in a query)."""
    return f"{settings.public_base_url}/v1/calendar.ics?token={token}"


async def get_feed(*, caller: Caller) -> CalendarFeedOut:
    """Whether the caller has a feed link, when it was made and when it was last fetched."""
    rows = await db.fetch(
        "SELECT created_at, last_used_at FROM calendar_feeds WHERE user_id = $1", caller.user_id
    )
    if not rows:
        return CalendarFeedOut(exists=False, created_at=None, last_used_at=None)
    return CalendarFeedOut(exists=True, **rows[0])


async def create_feed_token(*, settings: Settings, caller: Caller) -> CalendarTokenOut:
    """Make the caller's feed link, replacing any earlier one, and return it (shown once)."""
    # Artists and venues alike (a rule of feeds, not caller.require_artist/venue); an
    # artist's feed needs no profile yet: it lists the gigs they were accepted for.
    if caller.role not in FEED_ROLES:
        raise Forbidden("Calendar feeds are for artists and venues.")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    try:
        rows = await db.fetch(
            "INSERT INTO calendar_feeds (user_id, token_hash) VALUES ($1, $2)"
            " ON CONFLICT ON CONSTRAINT calendar_feeds_user_id_key DO UPDATE"
            " SET token_hash = EXCLUDED.token_hash, created_at = now(), last_used_at = NULL"
            " RETURNING created_at",
            caller.user_id,
            hash_token(token),
        )
    except asyncpg.ForeignKeyViolationError:  # the account was deleted a moment ago
        raise Unauthorized("This account no longer exists. Sign in again.") from None
    url = feed_url(settings, token)
    return CalendarTokenOut(
        url=url,
        webcal_url="webcal://" + url.split("://", 1)[1],
        created_at=rows[0]["created_at"],
    )


async def delete_feed_token(*, caller: Caller) -> CalendarFeedOut:
    """Turn the caller's feed link off; without one, nothing changes and the answer is the same."""
    await db.fetch("DELETE FROM calendar_feeds WHERE user_id = $1", caller.user_id)
    return CalendarFeedOut(exists=False, created_at=None, last_used_at=None)


async def get_feed_calendar(*, settings: Settings, token: str) -> str:
    """The iCalendar text of the feed a token opens; 404 for an unknown or revoked token."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise _no_such_feed()
    rows = await db.fetch(
        "SELECT f.id, f.user_id, f.last_used_at, u.role FROM calendar_feeds f"
        " JOIN users u ON u.id = f.user_id WHERE f.token_hash = $1",
        hash_token(token),
    )
    if not rows:
        raise _no_such_feed()
    feed = rows[0]
    now = datetime.now(UTC)
    if feed["last_used_at"] is None or feed["last_used_at"] <= now - LAST_USED_EVERY:
        # the condition again in SQL: of concurrent polls, one writes
        await db.fetch(
            "UPDATE calendar_feeds SET last_used_at = now() WHERE id = $1"
            " AND (last_used_at IS NULL OR last_used_at <= now() - $2::interval)",
            feed["id"],
            LAST_USED_EVERY,
        )
    query = _VENUE_GIGS if feed["role"] == "venue" else _ARTIST_GIGS
    gigs = await db.fetch(query, feed["user_id"], now.date() - FEED_PAST, FEED_MAX_EVENTS)
    return ics.calendar((gig_event(settings, gig) for gig in gigs), name=CALENDAR_NAME)


# -- gigs as events ------------------------------------------------------------------------


def gig_times(
    day: date, start: time | None, end: time | None
) -> tuple[date | datetime, date | datetime | None]:
    """When a gig happens, in the venue's local time (no zone is stored: floating times).

    Without a start time it is an all-day event; an end before the start is after midnight.
    """
    if start is None:
        return day, day + timedelta(days=1)
    begins = datetime.combine(day, start)
    if end is None or end == start:
        return begins, None
    ends = datetime.combine(day, end)
    if end < start:
        ends += timedelta(days=1)
    return begins, ends


def pay_text(amount: Decimal | None, payment_type: str) -> str:
    """What a gig pays, in words."""
    if amount is None:
        return "Pay: negotiable"
    money = f"${amount:,.2f}"
    if payment_type == "hourly":
        return f"Pay: {money} per hour"
    if payment_type == "negotiable":
        return f"Pay: {money}, negotiable"
    return f"Pay: {money}"


def gig_event(settings: Settings, gig: dict[str, Any]) -> ics.Event:
    """One gig as a VEVENT; a cancelled gig stays in the feed, marked cancelled."""
    start, end = gig_times(gig["date"], gig["start_time"], gig["end_time"])
    cancelled = gig["status"] == "cancelled"
    place = " ".join(part for part in (gig["state"], gig["zip"]) if part)
    location = ", ".join(
        part for part in (gig["venue_name"], gig["address"], gig["city"], place) if part
    )
    link = f"{settings.app_url}/gigs/{gig['id']}"
    description = "\n\n".join(
        part
        for part in (
            "Cancelled by the venue." if cancelled else None,
            gig["description"],
            pay_text(gig["payment_amount"], gig["payment_type"]),
            link,
        )
        if part
    )
    updated: datetime = gig["updated_at"]
    return ics.Event(
        uid=f"{gig['id']}@umbrella",
        # without a METHOD, DTSTAMP is the last change (RFC 5545 §3.8.7.2): a stable feed
        stamp=updated,
        start=start,
        end=end,
        summary=f"{gig['title']} at {gig['venue_name']}",
        location=location,
        description=description,
        url=link,
        cancelled=cancelled,
        # grows with every change, and stays small (some clients keep it in 32 bits)
        sequence=max(0, int((updated - gig["created_at"]).total_seconds())),
        last_modified=updated,
    )
