"""Applications (D-077): applying with one click, the lists each side reads, the reminders.

Also what applying and booking share: whether a gig still takes artists, and the notices
both sides get (D-079). Locks are taken in the order `bookings.py` names.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from umbrella.artists import service as artists_service
from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.errors import Conflict, Forbidden, NotFound
from umbrella.core.pagination import Cursors
from umbrella.core.sql import Conditions
from umbrella.core.storage import Storage
from umbrella.gigs import service as gigs
from umbrella.gigs.schemas import ApplicantOut, ApplicationOut, ApplyIn
from umbrella.gigs.tables import GigApplication
from umbrella.notifications import service as notifications
from umbrella.notifications.templates import ApplicationReminderPayload, BookingPayload
from umbrella.piccolo_conf import DB
from umbrella.portfolio import service as portfolio

# D-077: the first tracks of the portfolio travel with an application.
APPLICATION_TRACKS = 5
# (ours) A venue hears once about applications left unanswered this long.
REMINDER_AFTER = timedelta(hours=48)
REMINDER_BATCH = 5_000

Audience = Literal["artist", "venue"]

APPLICATION_COLUMNS = (
    "a.id, a.gig_id, a.artist_id, a.status, a.message, a.applied_at, a.viewed_at,"
    " a.responded_at, a.earned_amount"
)


def no_such_application() -> NotFound:
    return NotFound("No such application for this gig.", field="application_id")


def why_closed(gig: dict[str, Any], *, on: date) -> Conflict | None:
    """Why a gig takes no more applications or bookings, if it does not."""
    if gig["status"] == "cancelled":
        return Conflict("This gig was cancelled.", field="gig_id")
    if gig["status"] == "completed":
        return Conflict("This gig is over.", field="gig_id")
    if gig["status"] == "filled" or gig["filled_slots"] >= gig["capacity"]:
        return Conflict("This gig is full.", field="gig_id")
    if gig["date"] < on:
        return Conflict("This gig's date has passed.", field="gig_id")
    return None


def booking_payload(
    settings: Settings, gig: dict[str, Any], *, audience: Audience, artist: str
) -> BookingPayload:
    return BookingPayload(
        audience=audience,
        artist_name=artist,
        venue_name=gig["venue_name"],
        gig_title=gig["title"],
        gig_date=gigs.when(gig),
        city=gig["city"],
        gig_url=gigs.gig_url(settings, gig["id"]),
    )


async def tell_both(
    settings: Settings, gig: dict[str, Any], *, kind: str, artist_user_id: UUID, artist: str
) -> None:
    """D-079: the artist and the venue, by email and by text (each as their settings allow)."""
    sides: tuple[tuple[UUID, Audience], ...] = (
        (artist_user_id, "artist"),
        (gig["venue_id"], "venue"),
    )
    for user_id, audience in sides:
        await notifications.notify_user(
            user_id=user_id,
            kind=kind,
            payload=booking_payload(settings, gig, audience=audience, artist=artist),
            channels=("email", "sms"),
        )


# -- applying (D-077) -------------------------------------------------------------------------


def _application_out(row: dict[str, Any], gig: dict[str, Any]) -> ApplicationOut:
    return ApplicationOut.model_validate(
        {
            **row,
            "gig_title": gig["title"],
            "gig_date": gig["date"],
            "venue_name": gig["venue_name"],
            "city": gig["city"],
            "gig_status": gig["status"],
        }
    )


async def _own_application(gig_id: UUID, artist_id: UUID) -> dict[str, Any] | None:
    rows = await GigApplication.raw(
        f"SELECT {APPLICATION_COLUMNS} FROM gig_applications a"
        " WHERE a.gig_id = {} AND a.artist_id = {}",
        gig_id,
        artist_id,
    )
    return rows[0] if rows else None


async def create_application(
    *, settings: Settings, user_id: UUID, role: str, gig_id: UUID, application: ApplyIn
) -> tuple[ApplicationOut, bool]:
    """Apply with one click; a retry answers the application already made (and False)."""
    if role != "artist":
        raise Forbidden(gigs.NOT_AN_ARTIST)
    rows = await db.fetch(
        "SELECT a.id, a.stage_name, u.onboarding_complete FROM artists a"
        " JOIN users u ON u.id = a.user_id WHERE a.user_id = $1",
        user_id,
    )
    if not rows or not rows[0]["onboarding_complete"]:
        raise Forbidden("Finish onboarding before you apply to gigs.", field="onboarding")
    artist = rows[0]
    on = gigs.today()
    async with DB.transaction():
        gig = await gigs.gig_row(gig_id, lock="FOR SHARE")
        if gig is None:
            raise gigs.no_such_gig()
        existing = await _own_application(gig_id, artist["id"])
        if existing is not None:
            return _application_out(existing, gig), False
        closed = why_closed(gig, on=on)
        if closed is not None:
            raise closed
        inserted = await db.fetch(
            "INSERT INTO gig_applications (gig_id, artist_id, message) VALUES ($1, $2, $3)"
            " ON CONFLICT ON CONSTRAINT gig_applications_gig_id_artist_id_key DO NOTHING"
            " RETURNING id",
            gig_id,
            artist["id"],
            application.message,
        )
        if inserted:
            await tell_both(
                settings,
                gig,
                kind="application_confirmation",
                artist_user_id=user_id,
                artist=artist["stage_name"],
            )
    # A concurrent retry inserted first: answer what it made.
    made = await _own_application(gig_id, artist["id"])
    if made is None or gig is None:  # the gig was deleted a moment ago
        raise gigs.no_such_gig()
    return _application_out(made, gig), bool(inserted)


async def list_own_applications(
    *,
    settings: Settings,
    user_id: UUID,
    role: str,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """The calling artist's applications, newest first, each with its gig and answer."""
    if role != "artist":
        raise Forbidden(gigs.NOT_AN_ARTIST)
    artist_id = await artists_service.get_artist_id(user_id=user_id)
    if artist_id is None:
        return {"items": [], "next_cursor": None}
    cursors = Cursors(settings, "applications")
    where = _page_of_applications(
        ("a.artist_id", artist_id), status, cursors.decode(cursor), newest_first=True
    )
    rows = await GigApplication.raw(
        f"SELECT {APPLICATION_COLUMNS}, g.title AS gig_title, g.date AS gig_date,"
        " g.venue_name, g.city, g.status AS gig_status"
        " FROM gig_applications a JOIN gigs g ON g.id = a.gig_id"
        f" WHERE {where.sql} ORDER BY a.applied_at DESC, a.id DESC LIMIT {{}}",
        *where.values,
        limit + 1,
    )
    return {
        "items": [ApplicationOut.model_validate(row) for row in rows[:limit]],
        "next_cursor": cursors.next_cursor(rows, limit, _application_position),
    }


def _page_of_applications(
    owner: tuple[str, UUID],
    status: str | None,
    position: dict[str, Any] | None,
    *,
    newest_first: bool,
) -> Conditions:
    """The conditions of one page of applications, keyset on `(applied_at, id)`."""
    column, value = owner
    where = Conditions()
    where.add(f"{column} = {{}}", value)
    if status is not None:
        where.add("a.status = {}", status)
    if position is not None:
        where.add(
            f"(a.applied_at, a.id) {'<' if newest_first else '>'} ({{}}, {{}})",
            datetime.fromisoformat(position["at"]),
            UUID(position["id"]),
        )
    return where


def _application_position(row: dict[str, Any]) -> dict[str, Any]:
    return {"at": row["applied_at"].isoformat(), "id": str(row["id"])}


# -- the venue's side -------------------------------------------------------------------------


async def applicants(
    rows: list[dict[str, Any]], *, reader: artists_service.ProfileReader, storage: Storage
) -> list[ApplicantOut]:
    """D-077: each application with the artist's profile, rates and first tracks."""
    outs = []
    for row in rows:
        profile = await artists_service.get_listed_profile(
            artist_id=row["artist_id"], reader=reader
        )
        tracks = (
            await portfolio.list_tracks(
                storage=storage, artist_id=row["artist_id"], limit=APPLICATION_TRACKS
            )
        ).tracks
        outs.append(ApplicantOut.model_validate({**row, "profile": profile, "tracks": tracks}))
    return outs


async def list_applications(
    *,
    settings: Settings,
    reader: artists_service.ProfileReader,
    user_id: UUID,
    role: str,
    gig_id: UUID,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """Applications to one of the calling venue's gigs, first come first."""
    if role != "venue":
        raise Forbidden(gigs.NOT_A_VENUE)
    await gigs.own_gig_row(gig_id=gig_id, user_id=user_id)
    cursors = Cursors(settings, "gig-applications")
    where = _page_of_applications(
        ("a.gig_id", gig_id), status, cursors.decode(cursor), newest_first=False
    )
    rows = await GigApplication.raw(
        f"SELECT {APPLICATION_COLUMNS} FROM gig_applications a WHERE {where.sql}"
        " ORDER BY a.applied_at, a.id LIMIT {}",
        *where.values,
        limit + 1,
    )
    return {
        "items": await applicants(rows[:limit], reader=reader, storage=reader.storage),
        "next_cursor": cursors.next_cursor(rows, limit, _application_position),
    }


async def application_row(gig_id: UUID, application_id: UUID, *, lock: str = "") -> dict[str, Any]:
    rows = await GigApplication.raw(
        f"SELECT {APPLICATION_COLUMNS} FROM gig_applications a"
        f" WHERE a.id = {{}} AND a.gig_id = {{}} {lock}",
        application_id,
        gig_id,
    )
    if not rows:
        raise no_such_application()
    row: dict[str, Any] = rows[0]
    return row


async def update_application_viewed(
    *,
    reader: artists_service.ProfileReader,
    user_id: UUID,
    role: str,
    gig_id: UUID,
    application_id: UUID,
) -> ApplicantOut:
    """Mark an application as seen by the venue (the first time counts; the artist sees it)."""
    if role != "venue":
        raise Forbidden(gigs.NOT_A_VENUE)
    await gigs.own_gig_row(gig_id=gig_id, user_id=user_id)
    await db.fetch(
        "UPDATE gig_applications SET viewed_at = now(), updated_at = now()"
        " WHERE id = $1 AND gig_id = $2 AND viewed_at IS NULL",
        application_id,
        gig_id,
    )
    row = await application_row(gig_id, application_id)
    return (await applicants([row], reader=reader, storage=reader.storage))[0]


# -- reminders (ours) -------------------------------------------------------------------------


async def remind_venues(*, settings: Settings, now: datetime | None = None) -> int:
    """Tell venues once about applications waiting over 48 hours; the number of emails."""
    now = now or datetime.now(UTC)
    async with DB.transaction():
        due = await db.fetch(
            "UPDATE gig_applications SET reminded_at = $1 WHERE id IN ("
            " SELECT a.id FROM gig_applications a JOIN gigs g ON g.id = a.gig_id"
            " WHERE a.status = 'pending' AND a.reminded_at IS NULL AND a.applied_at < $2"
            " AND g.status = 'open' AND g.date >= $3"
            " ORDER BY a.applied_at LIMIT $4 FOR UPDATE OF a SKIP LOCKED"
            ") RETURNING gig_id",
            now,
            now - REMINDER_AFTER,
            now.date(),
            REMINDER_BATCH,
        )
        waiting = Counter(row["gig_id"] for row in due)
        for gig_id, count in waiting.items():
            gig = await gigs.gig_row(gig_id)
            if gig is None:
                continue
            await notifications.notify_user(
                user_id=gig["venue_id"],
                kind="application_reminder",
                payload=ApplicationReminderPayload(
                    venue_name=gig["venue_name"],
                    gig_title=gig["title"],
                    gig_date=gigs.when(gig),
                    waiting=count,
                    applications_url=gigs.gig_url(settings, gig_id),
                ),
            )
    return len(waiting)
