"""Follow-through on a booking (issue 25): a reminder before the gig, a prompt after it.

Both run from the hourly `booking-reminders` cron. Each booking is reminded once and
followed up once: the marker on its `booking_terms` row is set by the statement that picks
it (`FOR UPDATE … SKIP LOCKED`), in the transaction that queues the notifications, so two
runs, even at the same moment, never both send it; a run that fails sends nothing and
leaves the marker unset for the next one.

Gigs carry no time zone: their date and times are read as UTC, like every date rule of the
marketplace (`service.today`). So the reminder goes out in the hour 24 hours before the
start (midnight for a gig without a start time), the follow-up from 09:00 UTC the day
after. Each booked artist is its own deal, so a venue with three artists on a night hears
of each booking.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from umbrella.config import Settings
from umbrella.core import db
from umbrella.gigs import terms
from umbrella.gigs.terms import Audience
from umbrella.notifications import service as notifications
from umbrella.notifications.templates import GigFollowUpPayload
from umbrella.piccolo_conf import DB

REMIND_BEFORE = timedelta(hours=24)
# The morning after: 09:00 on the day after the gig's date.
FOLLOW_UP_AT = timedelta(days=1, hours=9)
# A booking whose follow-up was missed for a week (an outage) is not prompted about any more.
FOLLOW_UP_UNTIL = timedelta(days=8)
BATCH = 2_000

# When the gig starts, as a timestamptz: no start time means the day's start.
_START = "((t.date + coalesce(t.start_time, time '00:00')) AT TIME ZONE 'UTC')"

_PICKED = (
    f"SELECT {terms.TERMS_COLUMNS}, ar.stage_name AS artist_name,"
    " ar.user_id AS artist_user_id, g.status AS gig_status"
    " FROM booking_terms t JOIN artists ar ON ar.id = t.artist_id"
    " JOIN gigs g ON g.id = t.gig_id WHERE t.application_id = ANY($1::uuid[])"
    " ORDER BY t.date, t.application_id"
)


async def _pick(marker: str, due: str, now: datetime, *bounds: object) -> list[dict[str, Any]]:
    """Mark the due bookings (still booked, gig not cancelled) and read them back."""
    picked = await db.fetch(
        f"UPDATE booking_terms SET {marker} = $1 WHERE application_id IN ("
        " SELECT t.application_id FROM booking_terms t"
        " JOIN gig_applications a ON a.id = t.application_id JOIN gigs g ON g.id = t.gig_id"
        f" WHERE t.{marker} IS NULL AND a.status = 'accepted' AND {due}"
        " ORDER BY t.date LIMIT $2 FOR UPDATE OF t SKIP LOCKED"
        ") RETURNING application_id",
        now,
        BATCH,
        *bounds,
    )
    if not picked:
        return []
    return await db.fetch(_PICKED, [row["application_id"] for row in picked])


def _sides(row: dict[str, Any]) -> tuple[tuple[UUID, Audience], ...]:
    return ((row["artist_user_id"], "artist"), (row["venue_id"], "venue"))


async def send_reminders(*, settings: Settings, now: datetime | None = None) -> int:
    """Remind both sides of each booking starting within 24 hours; the number of bookings."""
    now = now or datetime.now(UTC)
    async with DB.transaction():
        due = await _pick(
            "reminder_sent_at",
            # the date bounds let the partial index on date narrow the rows first
            f"t.date BETWEEN $3::date - 1 AND $3::date + 2 AND g.status IN ('open', 'filled')"
            f" AND {_START} > $1 AND {_START} <= $1 + $4::interval",
            now,
            now.date(),
            REMIND_BEFORE,
        )
        for row in due:
            for user_id, audience in _sides(row):
                await notifications.notify_user(
                    user_id=user_id,
                    kind="booking_reminder",
                    payload=terms.terms_payload(
                        settings, row, audience=audience, artist=row["artist_name"]
                    ),
                    channels=("email", "sms"),
                )
    return len(due)


def review_url(settings: Settings, row: dict[str, Any], *, audience: Audience) -> str:
    """Where each side reviews the other (the app's pages of the review routes, D-034)."""
    base = f"{settings.app_url.rstrip('/')}/gigs/{row['gig_id']}/reviews"
    return f"{base}/venue" if audience == "artist" else f"{base}/artist/{row['artist_id']}"


async def send_follow_ups(*, settings: Settings, now: datetime | None = None) -> int:
    """The morning after a gig, ask both sides to mark it played and to review each other."""
    now = now or datetime.now(UTC)
    async with DB.transaction():
        due = await _pick(
            "follow_up_sent_at",
            "t.date BETWEEN $3::date AND $4::date AND g.status IN ('open', 'filled', 'completed')"
            " AND ((t.date + time '00:00') AT TIME ZONE 'UTC') + $5::interval <= $1",
            now,
            (now - FOLLOW_UP_UNTIL).date(),
            (now - FOLLOW_UP_AT).date(),
            FOLLOW_UP_AT,
        )
        for row in due:
            for user_id, audience in _sides(row):
                agreed = terms.terms_payload(
                    settings, row, audience=audience, artist=row["artist_name"]
                )
                await notifications.notify_user(
                    user_id=user_id,
                    kind="gig_follow_up",
                    payload=GigFollowUpPayload(
                        **agreed.model_dump(),
                        completed=row["gig_status"] == "completed",
                        review_url=review_url(settings, row, audience=audience),
                    ),
                )
    return len(due)
