"""Completion (D-080): either side marks a gig played; the artists' totals follow."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from redis.asyncio import Redis

from umbrella.artists import cache as profile_cache
from umbrella.config import Settings
from umbrella.core import db, search_cache
from umbrella.core.caller import Caller
from umbrella.core.errors import Conflict, Forbidden
from umbrella.gigs import service as gigs
from umbrella.gigs import venue_cards
from umbrella.gigs.bookings import decline_pending
from umbrella.gigs.schemas import CompleteIn, CompletionOut
from umbrella.piccolo_conf import DB


def _default_pay(gig: dict[str, Any], reported: Decimal | None) -> Decimal | None:
    """What a booked artist earned: as reported, else a flat-rate gig's pay."""
    if reported is not None:
        return reported
    return gig["payment_amount"] if gig["payment_type"] == "flat" else None


async def complete_gig(
    *,
    settings: Settings,
    redis: Redis,
    caller: Caller,
    gig_id: UUID,
    completion: CompleteIn,
) -> CompletionOut:
    """Either party marks the gig played once its date has come (D-080); totals follow."""
    on = gigs.today()
    # Read before the gig's lock is taken (None for a venue, without a query).
    artist_id = await caller.artist_id()
    async with DB.transaction():
        gig = await gigs.gig_row(gig_id, lock="FOR NO KEY UPDATE")
        if gig is None:
            raise gigs.no_such_gig()
        venue_id: UUID = gig["venue_id"]
        booked = await db.fetch(
            "SELECT id, artist_id, earned_amount FROM gig_applications"
            " WHERE gig_id = $1 AND status = 'accepted' ORDER BY id FOR NO KEY UPDATE",
            gig_id,
        )
        mine = next((row for row in booked if row["artist_id"] == artist_id), None)
        is_venue = venue_id == caller.user_id
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
                await db.fetch(
                    "UPDATE gig_applications SET earned_amount = $1, updated_at = now()"
                    " WHERE id = $2",
                    _default_pay(gig, reported),
                    row["id"],
                )
            await db.fetch(
                "UPDATE gigs SET status = 'completed', completed_at = now(),"
                " urgency_flag = false, updated_at = now() WHERE id = $1",
                gig_id,
            )
            totals = await db.fetch(
                "UPDATE artists ar SET total_gigs = ar.total_gigs + 1,"
                " total_earnings = ar.total_earnings + coalesce(a.earned_amount, 0),"
                " updated_at = now() FROM gig_applications a"
                " WHERE a.gig_id = $1 AND a.status = 'accepted' AND ar.id = a.artist_id"
                " RETURNING ar.id",
                gig_id,
            )
            changed = [row["id"] for row in totals]
            await decline_pending(settings, gig)
        elif mine is not None and completion.earned_amount is not None:
            # The artist corrects their own pay; the total moves by the difference.
            before = mine["earned_amount"] or Decimal(0)
            await db.fetch(
                "UPDATE gig_applications SET earned_amount = $1, updated_at = now() WHERE id = $2",
                completion.earned_amount,
                mine["id"],
            )
            await db.fetch(
                "UPDATE artists SET total_earnings = total_earnings + $1, updated_at = now()"
                " WHERE id = $2",
                completion.earned_amount - before,
                artist_id,
            )
            changed = [mine["artist_id"]]
        if changed:
            await profile_cache.forget_later(changed)
    await profile_cache.forget(redis, changed)
    # After the commit, like cancel_gig: the card shows the completion at once.
    await venue_cards.update_one_venue_stats(venue_id=venue_id, on=on)
    await search_cache.forget(redis, kind="gigs")
    earned = None
    if mine is not None:
        rows = await db.fetch(
            "SELECT earned_amount FROM gig_applications WHERE id = $1", mine["id"]
        )
        earned = rows[0]["earned_amount"]
    return CompletionOut(gig=await gigs.get_gig(gig_id=gig_id, caller=caller), earned_amount=earned)
