"""Batch jobs of the marketplace."""

from __future__ import annotations

from umbrella.core import search_cache
from umbrella.core.cron import CronContext, CronJob
from umbrella.gigs import applications, browse, reminders, service, venue_cards


async def urgency_flags(context: CronContext) -> str:
    changed = await service.update_urgency_flags(on=service.today())
    if changed and context.redis is not None:
        await search_cache.forget(context.redis, kind="gigs")
    return f"changed the urgency flag of {changed} gigs"


async def gigs_shuffle(context: CronContext) -> str:
    epoch = await browse.update_shuffle()
    if context.redis is not None:
        await search_cache.forget(context.redis, kind="gigs")
    return f"dealt new shuffle keys to the open gigs (epoch {epoch})"


async def venue_stats(context: CronContext) -> str:
    venues = await venue_cards.update_venue_stats(on=service.today())
    return f"refreshed the card numbers of {venues} venues"


async def application_reminders(context: CronContext) -> str:
    venues = await applications.remind_venues(settings=context.settings)
    return f"reminded venues of {venues} gigs with applications waiting over 48 hours"


async def booking_reminders(context: CronContext) -> str:
    reminded = await reminders.send_reminders(settings=context.settings)
    followed = await reminders.send_follow_ups(settings=context.settings)
    return (
        f"reminded both sides of {reminded} bookings starting within 24 hours;"
        f" followed up {followed} bookings played yesterday"
    )


CRON_JOBS = (
    CronJob(
        name="urgency-flags",
        schedule="5 * * * *",
        description=(
            "D-010: flag open gigs within 7 days and under half filled; clear the flag of "
            "the others."
        ),
        run=urgency_flags,
    ),
    CronJob(
        name="gigs-shuffle",
        schedule="30 4 * * *",
        description=(
            "D-014: deal open gigs new shuffle keys daily (scrolls begun before it keep "
            "their order)."
        ),
        run=gigs_shuffle,
    ),
    CronJob(
        name="venue-stats",
        schedule="*/15 * * * *",
        description=(
            "Sum up each venue's gigs and reviews into venue_stats, which the venue card on "
            "every gig reads (ours; up to 15 minutes stale)."
        ),
        run=venue_stats,
        in_worker=True,
    ),
    CronJob(
        name="application-reminders",
        schedule="20 * * * *",
        description="Email a venue once about applications unanswered for 48 hours.",
        run=application_reminders,
    ),
    CronJob(
        name="booking-reminders",
        schedule="35 * * * *",
        description=(
            "Issue 25: remind both sides of a booking 24 hours before the gig (email and "
            "text), and the morning after (09:00 UTC) ask them to mark it completed and "
            "review each other; each once."
        ),
        run=booking_reminders,
    ),
)
