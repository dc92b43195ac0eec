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
from umbrella.core.caller import NO_PROFILE, NOT_AN_ARTIST, Caller
from umbrella.core.errors import Conflict, Forbidden, NotFound
from umbrella.core.pagination import Keyset, ListPage, Pager
from umbrella.core.sql import Conditions
from umbrella.core.storage import Storage
from umbrella.gigs import availability
from umbrella.gigs import service as gigs
from umbrella.gigs.schemas import ApplicantOut, ApplicationOut, ApplyIn
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

# An artist reads their applications newest first, a venue those to its gig first come first;
# both cursors keep `applied_at` under "at".
NEWEST_APPLIED = Keyset("applied_at", "at", descending=True, parse=datetime.fromisoformat)
FIRST_APPLIED = Keyset("applied_at", "at", descending=False, parse=datetime.fromisoformat)

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
    rows = await db.fetch(
        f"SELECT {APPLICATION_COLUMNS} FROM gig_applications a"
        " WHERE a.gig_id = $1 AND a.artist_id = $2",
        gig_id,
        artist_id,
    )
    return rows[0] if rows else None


async def create_application(
    *, settings: Settings, caller: Caller, gig_id: UUID, application: ApplyIn
) -> tuple[ApplicationOut, bool]:
    """Apply with one click; a retry answers the application already made (and False)."""
    # caller.require_artist() answers the same refusals, but applying needs the stage name
    # and the onboarding flag as well: one read answers all three (the hot path's budget).
    if not caller.is_artist:
        raise Forbidden(NOT_AN_ARTIST)
    rows = await db.fetch(
        "SELECT a.id, a.stage_name, u.onboarding_complete FROM artists a"
        " JOIN users u ON u.id = a.user_id WHERE a.user_id = $1",
        caller.user_id,
    )
    if not rows:
        raise NotFound(NO_PROFILE, field="onboarding")
    if not rows[0]["onboarding_complete"]:
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
        await availability.check_available(gig, artist_id=artist["id"], audience="artist")
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
                artist_user_id=caller.user_id,
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
    caller: Caller,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> ListPage[ApplicationOut]:
    """The calling artist's applications, newest first, each with its gig and answer."""
    artist_id = await caller.require_artist()
    pager = Pager(settings, "applications", cursor=cursor, limit=limit, keyset=NEWEST_APPLIED)
    where = _of_status(("a.artist_id", artist_id), status)
    pager.narrow(where, alias="a")
    rows = await db.fetch(
        f"SELECT {APPLICATION_COLUMNS}, g.title AS gig_title, g.date AS gig_date,"
        " g.venue_name, g.city, g.status AS gig_status"
        " FROM gig_applications a JOIN gigs g ON g.id = a.gig_id"
        f" WHERE {where.sql} ORDER BY {pager.order_by('a')}"
        f" LIMIT {where.param(pager.fetch)}",
        *where.values,
    )
    return pager.page(rows, ApplicationOut.model_validate)


def _of_status(owner: tuple[str, UUID], status: str | None) -> Conditions:
    """The applications of one artist or one gig, of one status if asked."""
    column, value = owner
    where = Conditions()
    where.add(f"{column} = {{}}", value)
    if status is not None:
        where.add("a.status = {}", status)
    return where


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
    caller: Caller,
    gig_id: UUID,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> ListPage[ApplicantOut]:
    """Applications to one of the calling venue's gigs, first come first."""
    caller.require_venue()
    await gigs.own_gig_row(gig_id=gig_id, caller=caller)
    pager = Pager(settings, "gig-applications", cursor=cursor, limit=limit, keyset=FIRST_APPLIED)
    where = _of_status(("a.gig_id", gig_id), status)
    pager.narrow(where, alias="a")
    rows = await db.fetch(
        f"SELECT {APPLICATION_COLUMNS} FROM gig_applications a WHERE {where.sql}"
        f" ORDER BY {pager.order_by('a')} LIMIT {where.param(pager.fetch)}",
        *where.values,
    )
    # Profiles and tracks are read for the shown rows only, then each row takes its own.
    shown = await applicants(rows[: pager.limit], reader=reader, storage=reader.storage)
    by_id = {applicant.id: applicant for applicant in shown}
    return pager.page(rows, lambda row: by_id[row["id"]])


async def application_row(gig_id: UUID, application_id: UUID, *, lock: str = "") -> dict[str, Any]:
    rows = await db.fetch(
        f"SELECT {APPLICATION_COLUMNS} FROM gig_applications a"
        f" WHERE a.id = $1 AND a.gig_id = $2 {lock}",
        application_id,
        gig_id,
    )
    if not rows:
        raise no_such_application()
    row: dict[str, Any] = rows[0]
    return row


async def mark_application_viewed(
    *,
    reader: artists_service.ProfileReader,
    caller: Caller,
    gig_id: UUID,
    application_id: UUID,
) -> ApplicantOut:
    """Mark an application as seen by the venue (the first time counts; the artist sees it)."""
    caller.require_venue()
    await gigs.own_gig_row(gig_id=gig_id, caller=caller)
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
