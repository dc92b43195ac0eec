"""The agreed deal on record (issue 25): a booking's terms as the venue accepted them.

Accepting an application copies the gig's date, times, place, pay and description into
`booking_terms` in the same transaction; nothing edits those columns afterwards, so a
venue's later edit of the gig never changes what the artist agreed to. Both sides read
the terms (`GET /v1/bookings/{booking_id}`, the booking being the accepted application),
every booking email and text is rendered from them, and the export carries them.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.errors import NotFound
from umbrella.gigs import service as gigs
from umbrella.gigs.schemas import BookingOut
from umbrella.notifications.templates import BookingTermsPayload

Audience = Literal["artist", "venue"]

# Gigs carry dollars only so far; the terms name their currency so others can follow.
CURRENCY = "USD"
_SYMBOLS = {"USD": "$"}

TERMS_COLUMNS = (
    "t.application_id, t.gig_id, t.artist_id, t.venue_id, t.title, t.description, t.genre,"
    " t.venue_name, t.address, t.city, t.state, t.zip, t.date, t.start_time, t.end_time,"
    " t.pay_minor, t.currency, t.payment_type, t.agreed_at, t.reminder_sent_at,"
    " t.follow_up_sent_at"
)


def no_such_booking() -> NotFound:
    return NotFound("No such booking.", field="booking_id")


async def record_terms(application_id: UUID) -> None:
    """Copy the gig's terms for a booking just accepted (in the accept's transaction)."""
    await db.fetch(
        "INSERT INTO booking_terms (application_id, gig_id, artist_id, venue_id, title,"
        " description, genre, venue_name, address, city, state, zip, date, start_time,"
        " end_time, pay_minor, currency, payment_type)"
        " SELECT a.id, g.id, a.artist_id, g.venue_id, g.title, g.description, g.genre,"
        " g.venue_name, g.address, g.city, g.state, g.zip, g.date, g.start_time, g.end_time,"
        " (g.payment_amount * 100)::bigint, $2, g.payment_type"
        " FROM gig_applications a JOIN gigs g ON g.id = a.gig_id WHERE a.id = $1"
        # A booking's terms are written once: a retried insert keeps the first.
        " ON CONFLICT (application_id) DO NOTHING",
        application_id,
        CURRENCY,
    )


async def terms_row(application_id: UUID) -> dict[str, Any] | None:
    rows = await db.fetch(
        f"SELECT {TERMS_COLUMNS}, ar.stage_name AS artist_name, ar.user_id AS artist_user_id,"
        " a.status, g.status AS gig_status"
        " FROM booking_terms t JOIN gig_applications a ON a.id = t.application_id"
        " JOIN gigs g ON g.id = t.gig_id JOIN artists ar ON ar.id = t.artist_id"
        " WHERE t.application_id = $1",
        application_id,
    )
    return rows[0] if rows else None


# -- how the terms read -------------------------------------------------------------------


def pay_amount(terms: dict[str, Any]) -> Decimal | None:
    """Minor units as a decimal amount with two places: 50000 → Decimal("500.00")."""
    minor: int | None = terms["pay_minor"]
    return None if minor is None else Decimal(minor).scaleb(-2)


def _clock(moment: time) -> str:
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'AM' if moment.hour < 12 else 'PM'}"


def times_text(terms: dict[str, Any]) -> str | None:
    """ "9:00 PM to 11:30 PM", "from 9:00 PM", "until 11:30 PM", or None for an all-day gig."""
    start: time | None = terms["start_time"]
    end: time | None = terms["end_time"]
    if start is not None and end is not None:
        return f"{_clock(start)} to {_clock(end)}"
    if start is not None:
        return f"from {_clock(start)}"
    if end is not None:
        return f"until {_clock(end)}"
    return None


def address_text(terms: dict[str, Any]) -> str:
    """ "The Anchor, 12 Main St, Austin, TX 78701": as much of it as the gig gave."""
    region = " ".join(part for part in (terms["state"], terms["zip"]) if part)
    parts = (terms["venue_name"], terms["address"], terms["city"], region)
    return ", ".join(part for part in parts if part)


def pay_text(terms: dict[str, Any]) -> str:
    """ "$500.00 flat", "$40.00 an hour", "negotiable" or "$300.00 (negotiable)"."""
    amount = pay_amount(terms)
    if amount is None:
        return "negotiable"
    currency: str = terms["currency"]
    symbol = _SYMBOLS.get(currency)
    shown = f"{symbol}{amount:,.2f}" if symbol else f"{amount:,.2f} {currency}"
    return {
        "flat": f"{shown} flat",
        "hourly": f"{shown} an hour",
    }.get(terms["payment_type"], f"{shown} (negotiable)")


def booking_url(settings: Settings, application_id: UUID) -> str:
    return f"{settings.app_url.rstrip('/')}/bookings/{application_id}"


def terms_payload(
    settings: Settings, terms: dict[str, Any], *, audience: Audience, artist: str
) -> BookingTermsPayload:
    """A booking email's or text's fields, from the agreed terms (never the gig as it is now)."""
    return BookingTermsPayload(
        audience=audience,
        artist_name=artist,
        venue_name=terms["venue_name"],
        gig_title=terms["title"],
        gig_date=gigs.when(terms),
        city=terms["city"],
        gig_url=gigs.gig_url(settings, terms["gig_id"]),
        times=times_text(terms),
        address=address_text(terms),
        pay=pay_text(terms),
        booking_url=booking_url(settings, terms["application_id"]),
    )


def booking_out(settings: Settings, row: dict[str, Any]) -> BookingOut:
    return BookingOut.model_validate(
        {
            **row,
            "id": row["application_id"],
            "payment_amount": pay_amount(row),
            "booking_url": booking_url(settings, row["application_id"]),
        }
    )


# -- reading a booking --------------------------------------------------------------------


async def get_booking(*, settings: Settings, caller: Caller, booking_id: UUID) -> BookingOut:
    """A booking's agreed terms, for its artist and its venue; to anyone else it is not there."""
    row = await terms_row(booking_id)
    if row is None:
        raise no_such_booking()
    if row["venue_id"] != caller.user_id and row["artist_user_id"] != caller.user_id:
        # 404, not 403: whether two others have a deal is none of the caller's business.
        raise no_such_booking()
    return booking_out(settings, row)
