"""Bookings: the venue's answer to an application (D-079), and cancelling a gig.

Applying is in `applications.py`, completion (D-080) in `completion.py`; all of them take
their locks in the order below.

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

from typing import Any
from uuid import UUID

from redis.asyncio import Redis

from umbrella.artists import service as artists_service
from umbrella.config import Settings
from umbrella.core import db, search_cache
from umbrella.core.caller import Caller
from umbrella.core.errors import Conflict
from umbrella.gigs import availability, terms, venue_cards
from umbrella.gigs import service as gigs
from umbrella.gigs.applications import (
    applicants,
    application_row,
    booking_payload,
    no_such_application,
    why_closed,
)
from umbrella.gigs.schemas import DecisionOut, VenueGigOut
from umbrella.notifications import service as notifications
from umbrella.notifications.templates import BookingPayload, GigCancelledPayload
from umbrella.piccolo_conf import DB


async def _check_no_overlap(gig: dict[str, Any], artist_id: UUID) -> None:
    """(ours) An artist is never booked for two gigs at the same time."""
    await db.fetch(
        "SELECT pg_advisory_xact_lock(hashtextextended('umbrella.booking:' || $1::uuid::text, 0))",
        artist_id,
    )
    clashes = await db.fetch(
        "SELECT og.title, og.date FROM gig_applications oa"
        " JOIN gigs og ON og.id = oa.gig_id, gigs g"
        " WHERE g.id = $1 AND oa.artist_id = $2 AND oa.status = 'accepted'"
        " AND og.id <> g.id AND og.status <> 'cancelled'"
        " AND og.date BETWEEN g.date - 1 AND g.date + 1"
        f" AND {availability.span_sql('og')} && {availability.span_sql('g')} LIMIT 1",
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


async def decline_pending(
    settings: Settings, gig: dict[str, Any], *, kind: str = "booking_declined"
) -> int:
    """Close every pending application of a gig and tell each artist (by email)."""
    declined = await db.fetch(
        "UPDATE gig_applications a SET status = 'rejected', responded_at = now(),"
        " updated_at = now() FROM artists ar"
        " WHERE a.gig_id = $1 AND a.status = 'pending' AND ar.id = a.artist_id"
        " RETURNING ar.user_id, ar.stage_name",
        gig["id"],
    )
    for row in declined:
        payload: BookingPayload = booking_payload(
            settings, gig, audience="artist", artist=row["stage_name"]
        )
        if kind == "gig_cancelled":
            payload = GigCancelledPayload(**payload.model_dump(), was_booked=False)
        await notifications.notify_user(user_id=row["user_id"], kind=kind, payload=payload)
    return len(declined)


async def _confirm(settings: Settings, application_id: UUID, *, artist: dict[str, Any]) -> None:
    """D-079: both sides, by email and text, with the terms just agreed (issue 25)."""
    agreed = await terms.terms_row(application_id)
    if agreed is None:  # pragma: no cover - written a statement ago in this transaction
        raise no_such_application()
    sides: tuple[tuple[UUID, terms.Audience], ...] = (
        (artist["user_id"], "artist"),
        (agreed["venue_id"], "venue"),
    )
    for user_id, audience in sides:
        await notifications.notify_user(
            user_id=user_id,
            kind="booking_confirmation",
            payload=terms.terms_payload(
                settings, agreed, audience=audience, artist=artist["stage_name"]
            ),
            channels=("email", "sms"),
        )


async def _decision(
    *,
    reader: artists_service.ProfileReader,
    caller: Caller,
    gig_id: UUID,
    application_id: UUID,
    declined: int,
) -> DecisionOut:
    row = await application_row(gig_id, application_id)
    gig = await gigs.get_venue_gig(gig_id=gig_id, caller=caller)
    applicant = (await applicants([row], reader=reader, storage=reader.storage))[0]
    return DecisionOut(application=applicant, gig=gig, declined_applications=declined)


async def _locked_decision_rows(
    *, caller: Caller, gig_id: UUID, application_id: UUID
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The venue's gig and the waiting application's artist, locked in the house order."""
    caller.require_venue()
    gig = await gigs.own_gig_row(gig_id=gig_id, caller=caller, lock="FOR NO KEY UPDATE")
    application = await application_row(gig_id, application_id, lock="FOR NO KEY UPDATE")
    artists = await db.fetch(
        "SELECT id, user_id, stage_name FROM artists WHERE id = $1", application["artist_id"]
    )
    if not artists:
        raise no_such_application()
    if application["status"] == "accepted":
        raise Conflict("This application was accepted already.", field="application_id")
    if application["status"] == "rejected":
        raise Conflict("This application was declined already.", field="application_id")
    artist: dict[str, Any] = artists[0]
    return gig, artist


async def accept_application(
    *,
    settings: Settings,
    redis: Redis,
    reader: artists_service.ProfileReader,
    caller: Caller,
    gig_id: UUID,
    application_id: UUID,
) -> DecisionOut:
    """Book the artist (D-079): a slot is taken; a full gig declines everyone still waiting."""
    on = gigs.today()
    async with DB.transaction():
        gig, artist = await _locked_decision_rows(
            caller=caller, gig_id=gig_id, application_id=application_id
        )
        closed = why_closed(gig, on=on)
        if closed is not None:
            raise closed
        await _check_no_overlap(gig, artist["id"])
        # The artist may have marked the day unavailable after applying (docs/marketplace.md).
        await availability.check_available(
            gig, artist_id=artist["id"], audience="venue", booked=False
        )
        await db.fetch(
            "UPDATE gig_applications SET status = 'accepted', responded_at = now(),"
            " viewed_at = coalesce(viewed_at, now()), updated_at = now() WHERE id = $1",
            application_id,
        )
        filled = await db.fetch(
            "UPDATE gigs SET filled_slots = filled_slots + 1,"
            " status = CASE WHEN filled_slots + 1 >= capacity THEN 'filled' ELSE 'open' END,"
            " updated_at = now() WHERE id = $1 RETURNING status",
            gig_id,
        )
        await gigs.refresh_urgency(gig_id, on=on)
        await terms.record_terms(application_id)
        await _confirm(settings, application_id, artist=artist)
        declined = 0
        if filled[0]["status"] == "filled":
            declined = await decline_pending(settings, gig)
    await search_cache.forget(redis, kind="gigs")
    return await _decision(
        reader=reader,
        caller=caller,
        gig_id=gig_id,
        application_id=application_id,
        declined=declined,
    )


async def decline_application(
    *,
    settings: Settings,
    reader: artists_service.ProfileReader,
    caller: Caller,
    gig_id: UUID,
    application_id: UUID,
) -> DecisionOut:
    """Decline an application; the artist is told by email."""
    async with DB.transaction():
        gig, artist = await _locked_decision_rows(
            caller=caller, gig_id=gig_id, application_id=application_id
        )
        await db.fetch(
            "UPDATE gig_applications SET status = 'rejected', responded_at = now(),"
            " viewed_at = coalesce(viewed_at, now()), updated_at = now() WHERE id = $1",
            application_id,
        )
        await notifications.notify_user(
            user_id=artist["user_id"],
            kind="application_rejected",
            payload=booking_payload(settings, gig, audience="artist", artist=artist["stage_name"]),
        )
    return await _decision(
        reader=reader, caller=caller, gig_id=gig_id, application_id=application_id, declined=0
    )


async def cancel_gig(
    *, settings: Settings, redis: Redis, caller: Caller, gig_id: UUID
) -> VenueGigOut:
    """Cancel a gig: waiting applicants are declined and booked artists told (email and text)."""
    caller.require_venue()
    async with DB.transaction():
        gig = await gigs.own_gig_row(gig_id=gig_id, caller=caller, lock="FOR NO KEY UPDATE")
        if gig["status"] == "completed":
            raise Conflict("A completed gig cannot be cancelled.", field="status")
        if gig["status"] != "cancelled":
            await db.fetch(
                "UPDATE gigs SET status = 'cancelled', cancelled_at = now(),"
                " urgency_flag = false, updated_at = now() WHERE id = $1",
                gig_id,
            )
            await decline_pending(settings, gig, kind="gig_cancelled")
            booked = await db.fetch(
                "SELECT ar.user_id, ar.stage_name FROM gig_applications a"
                " JOIN artists ar ON ar.id = a.artist_id"
                " WHERE a.gig_id = $1 AND a.status = 'accepted'",
                gig_id,
            )
            for row in booked:
                payload = booking_payload(
                    settings, gig, audience="artist", artist=row["stage_name"]
                )
                await notifications.notify_user(
                    user_id=row["user_id"],
                    kind="gig_cancelled",
                    payload=GigCancelledPayload(**payload.model_dump(), was_booked=True),
                    channels=("email", "sms"),
                )
    # After the commit: the venue's card row is written without holding the gig's lock.
    await venue_cards.update_one_venue_stats(venue_id=gig["venue_id"], on=gigs.today())
    await search_cache.forget(redis, kind="gigs")
    return await gigs.get_venue_gig(gig_id=gig_id, caller=caller)
