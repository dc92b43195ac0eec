"""The venue card every gig shows (ours): completed gigs, completion rate, typical pay, rating.

The numbers are summed up every 15 minutes into `venue_stats` (the `venue-stats` job) and
read from there, one row per venue; a venue new since the last run is counted live from its
few gigs. A completion or a cancel rewrites its venue's row at once. The live computation and
the job share the same SQL formulas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from umbrella.core import db
from umbrella.gigs.schemas import VenueCardOut


def _money(value: Any) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


# The card's formulas (ours) over a venue's gigs `g` and its reviews `vr`, shared by the live
# computation and the venue-stats refresh so the two cannot drift apart.
def _gig_numbers(today: str) -> str:
    """The gig numbers; `today` is the placeholder of today's date."""
    return (
        "count(*) FILTER (WHERE g.status = 'completed') AS completed_gigs,"
        f" count(*) FILTER (WHERE g.date < {today} OR g.status = 'completed') AS past_gigs,"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY g.payment_amount)"
        "   FILTER (WHERE g.payment_type = 'flat' AND g.status <> 'cancelled') AS typical_pay"
    )


_REVIEW_NUMBERS = "round(avg(vr.rating), 2) AS avg_rating, count(*) AS total_reviews"
_CARD_COLUMNS = "completed_gigs, past_gigs, typical_pay, avg_rating, total_reviews"

# Every venue's numbers at once: one pass over all gigs and all reviews, grouped by venue.
# Today's date is $1.
_ALL_VENUE_NUMBERS = (
    "SELECT venue_id, coalesce(g.completed_gigs, 0) AS completed_gigs,"
    " coalesce(g.past_gigs, 0) AS past_gigs, g.typical_pay, r.avg_rating,"
    " coalesce(r.total_reviews, 0) AS total_reviews"
    f" FROM (SELECT g.venue_id, {_gig_numbers('$1')} FROM gigs g GROUP BY g.venue_id) g"
    f" FULL JOIN (SELECT vr.venue_user_id AS venue_id, {_REVIEW_NUMBERS}"
    " FROM venue_reviews vr GROUP BY vr.venue_user_id) r USING (venue_id)"
)


def _live_venue_numbers_sql() -> str:
    """The card numbers of the venues in an array ($1), read from their gigs (today is $2)."""
    return (
        "SELECT v.venue_id, s.completed_gigs, s.past_gigs, s.typical_pay,"
        " r.avg_rating, coalesce(r.total_reviews, 0) AS total_reviews"
        " FROM unnest($1::uuid[]) AS v(venue_id)"
        f" LEFT JOIN LATERAL (SELECT {_gig_numbers('$2')}"
        "   FROM gigs g WHERE g.venue_id = v.venue_id) s ON true"
        f" LEFT JOIN LATERAL (SELECT {_REVIEW_NUMBERS}"
        "   FROM venue_reviews vr WHERE vr.venue_user_id = v.venue_id) r ON true"
    )


def venue_card_fields(row: Mapping[str, Any]) -> dict[str, Any]:
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
    return VenueCardOut(**venue_card_fields(row))


async def live_venue_cards(venue_ids: Sequence[UUID], *, on: date) -> dict[UUID, VenueCardOut]:
    """Venue cards computed from every gig and review of each venue (cost grows with them)."""
    if not venue_ids:
        return {}
    rows = await db.fetch(_live_venue_numbers_sql(), list(dict.fromkeys(venue_ids)), on)
    return {row["venue_id"]: _venue_card(row) for row in rows}


async def venue_cards(venue_ids: Sequence[UUID], *, on: date) -> dict[UUID, VenueCardOut]:
    """Each venue's record (ours): completed gigs, completion rate, typical pay, rating."""
    if not venue_ids:
        return {}
    wanted = list(dict.fromkeys(venue_ids))
    # One primary-key read per venue, whatever its number of gigs (up to 15 minutes old).
    rows = await db.fetch(
        f"SELECT venue_id, {_CARD_COLUMNS} FROM venue_stats WHERE venue_id = ANY($1::uuid[])",
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
    rows = await db.fetch(
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
    await db.fetch(
        "UPDATE venue_stats s SET completed_gigs = f.completed_gigs,"
        " past_gigs = f.past_gigs, typical_pay = f.typical_pay, avg_rating = f.avg_rating,"
        " total_reviews = f.total_reviews, refreshed_at = now()"
        f" FROM ({_live_venue_numbers_sql()}) f WHERE s.venue_id = f.venue_id",
        [venue_id],
        on,
    )
