"""Bookings: single-click applications (D-077), the venue's answer, completion (D-080).

Locks, always in this order, so no two flows wait on each other in a cycle (account
deletion takes them in the same order):
1. the gig row: `FOR NO KEY UPDATE` by whoever changes its slots or status, `FOR SHARE`
   by an application (many artists apply at once; an accept or a cancel waits for them);
2. the application row;
3. a transaction-scoped advisory lock per artist while their bookings are checked for
   overlap, so two venues booking one artist at once are decided one after the other.

`filled_slots` changes only under the gig lock, and the table's CHECKs refuse a slot
count above capacity whatever happens, so concurrent accepts can never over-book.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from redis.asyncio import Redis

from umbrella.artists import cache as profile_cache
from umbrella.artists import service as artists_service
from umbrella.artists.tables import Artist
from umbrella.config import Settings
from umbrella.core.sql import Conditions
from umbrella.core.storage import Storage
from umbrella.gigs import service as gigs
from umbrella.gigs.schemas import (
    ApplicantOut,
    ApplicationOut,
    ApplyIn,
    CompleteIn,
    CompletionOut,
    DecisionOut,
    VenueGigOut,
)
from umbrella.gigs.tables import Gig, GigApplication
from umbrella.notifications import service as notifications
from umbrella.notifications.templates import (
    ApplicationReminderPayload,
    BookingPayload,
    GigCancelledPayload,
)
from umbrella.piccolo_conf import DB
from umbrella.portfolio import service as portfolio
from umbrella.search import cache as search_cache
from umbrella.web.errors import Conflict, Forbidden, NotFound
from umbrella.web.pagination import Cursors

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


def _no_such_application() -> NotFound:
    return NotFound("No such application for this gig.", field="application_id")


def _closed(gig: dict[str, Any], *, on: date) -> Conflict | None:
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


def _payload(
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


async def _tell_both(
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
            payload=_payload(settings, gig, audience=audience, artist=artist),
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
    rows = await Artist.raw(
        "SELECT a.id, a.stage_name, u.onboarding_complete FROM artists a"
        " JOIN users u ON u.id = a.user_id WHERE a.user_id = {}",
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
        closed = _closed(gig, on=on)
        if closed is not None:
            raise closed
        inserted = await GigApplication.raw(
            "INSERT INTO gig_applications (gig_id, artist_id, message) VALUES ({}, {}, {})"
            " ON CONFLICT ON CONSTRAINT gig_applications_gig_id_artist_id_key DO NOTHING"
            " RETURNING id",
            gig_id,
            artist["id"],
            application.message,
        )
        if inserted:
            await _tell_both(
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


async def _applicants(
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
        "items": await _applicants(rows[:limit], reader=reader, storage=reader.storage),
        "next_cursor": cursors.next_cursor(rows, limit, _application_position),
    }


async def _application_row(gig_id: UUID, application_id: UUID, *, lock: str = "") -> dict[str, Any]:
    rows = await GigApplication.raw(
        f"SELECT {APPLICATION_COLUMNS} FROM gig_applications a"
        f" WHERE a.id = {{}} AND a.gig_id = {{}} {lock}",
        application_id,
        gig_id,
    )
    if not rows:
        raise _no_such_application()
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
    await GigApplication.raw(
        "UPDATE gig_applications SET viewed_at = now(), updated_at = now()"
        " WHERE id = {} AND gig_id = {} AND viewed_at IS NULL",
        application_id,
        gig_id,
    )
    row = await _application_row(gig_id, application_id)
    return (await _applicants([row], reader=reader, storage=reader.storage))[0]


def _span_sql(alias: str) -> str:
    """When a gig takes place, as a tsrange: no start means all day, no end the day's end."""
    a = alias
    return (
        f"tsrange({a}.date + coalesce({a}.start_time, time '00:00'),"
        f" CASE WHEN {a}.end_time IS NOT NULL THEN {a}.date + {a}.end_time"
        f" ELSE ({a}.date + 1) + time '00:00' END)"
    )


async def _check_no_overlap(gig: dict[str, Any], artist_id: UUID) -> None:
    """(ours) An artist is never booked for two gigs at the same time."""
    await GigApplication.raw(
        "SELECT pg_advisory_xact_lock(hashtextextended('umbrella.booking:' || {}::uuid::text, 0))",
        artist_id,
    )
    clashes = await GigApplication.raw(
        "SELECT og.title, og.date FROM gig_applications oa"
        " JOIN gigs og ON og.id = oa.gig_id, gigs g"
        " WHERE g.id = {} AND oa.artist_id = {} AND oa.status = 'accepted'"
        " AND og.id <> g.id AND og.status <> 'cancelled'"
        " AND og.date BETWEEN g.date - 1 AND g.date + 1"
        f" AND {_span_sql('og')} && {_span_sql('g')} LIMIT 1",
        gig["id"],
        artist_id,
    )
    if clashes:
        clash = clashes[0]
        raise Conflict(
            f"This artist is already booked for {clash['title']} at that time"
            f" ({clash['date']:%B} {clash['date'].day}).",
            field="artist_id",
        )


async def _decline_pending(
    settings: Settings, gig: dict[str, Any], *, kind: str = "booking_declined"
) -> int:
    """Close every pending application of a gig and tell each artist (by email)."""
    declined = await GigApplication.raw(
        "UPDATE gig_applications a SET status = 'rejected', responded_at = now(),"
        " updated_at = now() FROM artists ar"
        " WHERE a.gig_id = {} AND a.status = 'pending' AND ar.id = a.artist_id"
        " RETURNING ar.user_id, ar.stage_name",
        gig["id"],
    )
    for row in declined:
        payload: BookingPayload = _payload(
            settings, gig, audience="artist", artist=row["stage_name"]
        )
        if kind == "gig_cancelled":
            payload = GigCancelledPayload(**payload.model_dump(), was_booked=False)
        await notifications.notify_user(user_id=row["user_id"], kind=kind, payload=payload)
    return len(declined)


async def _decision(
    *,
    reader: artists_service.ProfileReader,
    user_id: UUID,
    gig_id: UUID,
    application_id: UUID,
    declined: int,
) -> DecisionOut:
    row = await _application_row(gig_id, application_id)
    gig = await gigs.get_venue_gig(gig_id=gig_id, user_id=user_id, role="venue")
    applicant = (await _applicants([row], reader=reader, storage=reader.storage))[0]
    return DecisionOut(application=applicant, gig=gig, declined_applications=declined)


async def _locked_decision_rows(
    *, user_id: UUID, role: str, gig_id: UUID, application_id: UUID
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The venue's gig and the waiting application's artist, locked in the house order."""
    if role != "venue":
        raise Forbidden(gigs.NOT_A_VENUE)
    gig = await gigs.own_gig_row(gig_id=gig_id, user_id=user_id, lock="FOR NO KEY UPDATE")
    application = await _application_row(gig_id, application_id, lock="FOR NO KEY UPDATE")
    artists = await Artist.raw(
        "SELECT id, user_id, stage_name FROM artists WHERE id = {}", application["artist_id"]
    )
    if not artists:
        raise _no_such_application()
    if application["status"] == "accepted":
        raise Conflict("This application was accepted already.", field="application_id")
    if application["status"] == "rejected":
        raise Conflict("This application was declined already.", field="application_id")
    artist: dict[str, Any] = artists[0]
    return gig, artist


async def update_application_accepted(
    *,
    settings: Settings,
    redis: Redis,
    reader: artists_service.ProfileReader,
    user_id: UUID,
    role: str,
    gig_id: UUID,
    application_id: UUID,
) -> DecisionOut:
    """Book the artist (D-079): a slot is taken; a full gig declines everyone still waiting."""
    on = gigs.today()
    async with DB.transaction():
        gig, artist = await _locked_decision_rows(
            user_id=user_id, role=role, gig_id=gig_id, application_id=application_id
        )
        closed = _closed(gig, on=on)
        if closed is not None:
            raise closed
        await _check_no_overlap(gig, artist["id"])
        await GigApplication.raw(
            "UPDATE gig_applications SET status = 'accepted', responded_at = now(),"
            " viewed_at = coalesce(viewed_at, now()), updated_at = now() WHERE id = {}",
            application_id,
        )
        filled = await Gig.raw(
            "UPDATE gigs SET filled_slots = filled_slots + 1,"
            " status = CASE WHEN filled_slots + 1 >= capacity THEN 'filled' ELSE 'open' END,"
            " updated_at = now() WHERE id = {} RETURNING status",
            gig_id,
        )
        await gigs.refresh_urgency(gig_id, on=on)
        await _tell_both(
            settings,
            gig,
            kind="booking_confirmation",
            artist_user_id=artist["user_id"],
            artist=artist["stage_name"],
        )
        declined = 0
        if filled[0]["status"] == "filled":
            declined = await _decline_pending(settings, gig)
    await search_cache.forget(redis, kind="gigs")
    return await _decision(
        reader=reader,
        user_id=user_id,
        gig_id=gig_id,
        application_id=application_id,
        declined=declined,
    )


async def update_application_rejected(
    *,
    settings: Settings,
    reader: artists_service.ProfileReader,
    user_id: UUID,
    role: str,
    gig_id: UUID,
    application_id: UUID,
) -> DecisionOut:
    """Decline an application; the artist is told by email."""
    async with DB.transaction():
        gig, artist = await _locked_decision_rows(
            user_id=user_id, role=role, gig_id=gig_id, application_id=application_id
        )
        await GigApplication.raw(
            "UPDATE gig_applications SET status = 'rejected', responded_at = now(),"
            " viewed_at = coalesce(viewed_at, now()), updated_at = now() WHERE id = {}",
            application_id,
        )
        await notifications.notify_user(
            user_id=artist["user_id"],
            kind="application_rejected",
            payload=_payload(settings, gig, audience="artist", artist=artist["stage_name"]),
        )
    return await _decision(
        reader=reader, user_id=user_id, gig_id=gig_id, application_id=application_id, declined=0
    )


async def delete_gig(
    *, settings: Settings, redis: Redis, user_id: UUID, role: str, gig_id: UUID
) -> VenueGigOut:
    """Cancel a gig: waiting applicants are declined and booked artists told (email and text)."""
    if role != "venue":
        raise Forbidden(gigs.NOT_A_VENUE)
    async with DB.transaction():
        gig = await gigs.own_gig_row(gig_id=gig_id, user_id=user_id, lock="FOR NO KEY UPDATE")
        if gig["status"] == "completed":
            raise Conflict("A completed gig cannot be cancelled.", field="status")
        if gig["status"] != "cancelled":
            await Gig.raw(
                "UPDATE gigs SET status = 'cancelled', cancelled_at = now(),"
                " urgency_flag = false, updated_at = now() WHERE id = {}",
                gig_id,
            )
            await _decline_pending(settings, gig, kind="gig_cancelled")
            booked = await GigApplication.raw(
                "SELECT ar.user_id, ar.stage_name FROM gig_applications a"
                " JOIN artists ar ON ar.id = a.artist_id"
                " WHERE a.gig_id = {} AND a.status = 'accepted'",
                gig_id,
            )
            for row in booked:
                payload = _payload(settings, gig, audience="artist", artist=row["stage_name"])
                await notifications.notify_user(
                    user_id=row["user_id"],
                    kind="gig_cancelled",
                    payload=GigCancelledPayload(**payload.model_dump(), was_booked=True),
                    channels=("email", "sms"),
                )
    # After the commit: the venue's card row is written without holding the gig's lock.
    await gigs.update_one_venue_stats(venue_id=gig["venue_id"], on=gigs.today())
    await search_cache.forget(redis, kind="gigs")
    return await gigs.get_venue_gig(gig_id=gig_id, user_id=user_id, role=role)


# -- completion (D-080) -----------------------------------------------------------------------


def _default_pay(gig: dict[str, Any], reported: Decimal | None) -> Decimal | None:
    """What a booked artist earned: as reported, else a flat-rate gig's pay."""
    if reported is not None:
        return reported
    return gig["payment_amount"] if gig["payment_type"] == "flat" else None


async def update_gig_completed(
    *,
    settings: Settings,
    redis: Redis,
    user_id: UUID,
    role: str,
    gig_id: UUID,
    completion: CompleteIn,
) -> CompletionOut:
    """Either party marks the gig played once its date has come (D-080); totals follow."""
    on = gigs.today()
    artist_id = await artists_service.get_artist_id(user_id=user_id) if role == "artist" else None
    async with DB.transaction():
        gig = await gigs.gig_row(gig_id, lock="FOR NO KEY UPDATE")
        if gig is None:
            raise gigs.no_such_gig()
        venue_id: UUID = gig["venue_id"]
        booked = await GigApplication.raw(
            "SELECT id, artist_id, earned_amount FROM gig_applications"
            " WHERE gig_id = {} AND status = 'accepted' ORDER BY id FOR NO KEY UPDATE",
            gig_id,
        )
        mine = next((row for row in booked if row["artist_id"] == artist_id), None)
        is_venue = venue_id == user_id
        if not is_venue and mine is None:
            raise Forbidden(
                "Only the venue and the artists it booked can complete this gig.", field="gig_id"
            )
        if gig["status"] == "cancelled":
            raise Conflict("This gig was cancelled.", field="status")
        if gig["date"] > on:
            raise Conflict("A gig can be completed from its date on, not before.", field="date")
        if not booked:
            raise Conflict("No artist was booked for this gig: cancel it instead.", field="gig_id")
        if is_venue and completion.earned_amount is not None and gig["status"] == "completed":
            raise Conflict(
                "The gig is completed already; artists report their own pay now.",
                field="earned_amount",
            )
        changed: list[UUID] = []
        if gig["status"] != "completed":
            for row in booked:
                reported = completion.earned_amount if (is_venue or row is mine) else None
                await GigApplication.raw(
                    "UPDATE gig_applications SET earned_amount = {}, updated_at = now()"
                    " WHERE id = {}",
                    _default_pay(gig, reported),
                    row["id"],
                )
            await Gig.raw(
                "UPDATE gigs SET status = 'completed', completed_at = now(),"
                " urgency_flag = false, updated_at = now() WHERE id = {}",
                gig_id,
            )
            totals = await Artist.raw(
                "UPDATE artists ar SET total_gigs = ar.total_gigs + 1,"
                " total_earnings = ar.total_earnings + coalesce(a.earned_amount, 0),"
                " updated_at = now() FROM gig_applications a"
                " WHERE a.gig_id = {} AND a.status = 'accepted' AND ar.id = a.artist_id"
                " RETURNING ar.id",
                gig_id,
            )
            changed = [row["id"] for row in totals]
            await _decline_pending(settings, gig)
        elif mine is not None and completion.earned_amount is not None:
            # The artist corrects their own pay; the total moves by the difference.
            before = mine["earned_amount"] or Decimal(0)
            await GigApplication.raw(
                "UPDATE gig_applications SET earned_amount = {}, updated_at = now() WHERE id = {}",
                completion.earned_amount,
                mine["id"],
            )
            await Artist.raw(
                "UPDATE artists SET total_earnings = total_earnings + {}, updated_at = now()"
                " WHERE id = {}",
                completion.earned_amount - before,
                artist_id,
            )
            changed = [mine["artist_id"]]
        if changed:
            await profile_cache.forget_later(changed)
    await profile_cache.forget(redis, changed)
    # After the commit, like delete_gig: the card shows the completion at once.
    await gigs.update_one_venue_stats(venue_id=venue_id, on=on)
    await search_cache.forget(redis, kind="gigs")
    viewer = gigs.Viewer(user_id=user_id, artist_id=artist_id)
    earned = None
    if mine is not None:
        rows = await GigApplication.raw(
            "SELECT earned_amount FROM gig_applications WHERE id = {}", mine["id"]
        )
        earned = rows[0]["earned_amount"]
    return CompletionOut(gig=await gigs.get_gig(gig_id=gig_id, viewer=viewer), earned_amount=earned)


# -- reminders (ours) -------------------------------------------------------------------------


async def remind_venues(*, settings: Settings, now: datetime | None = None) -> int:
    """Tell venues once about applications waiting over 48 hours; the number of emails."""
    now = now or datetime.now(UTC)
    async with DB.transaction():
        due = await GigApplication.raw(
            "UPDATE gig_applications SET reminded_at = {} WHERE id IN ("
            " SELECT a.id FROM gig_applications a JOIN gigs g ON g.id = a.gig_id"
            " WHERE a.status = 'pending' AND a.reminded_at IS NULL AND a.applied_at < {}"
            " AND g.status = 'open' AND g.date >= {}"
            " ORDER BY a.applied_at LIMIT {} FOR UPDATE OF a SKIP LOCKED"
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
