"""Batch jobs of search: the word list gig searches correct typos against."""

from __future__ import annotations

from umbrella.core.cron import CronContext, CronJob
from umbrella.gigs import service as gigs_service
from umbrella.search import service


async def search_words(context: CronContext) -> str:
    listed, changed = await service.refresh_gig_words(on=gigs_service.today())
    return f"listed {listed} words of open gigs' titles and venue names ({changed} changed)"


CRON_JOBS = (
    CronJob(
        name="search-words",
        # Off the quarter hours, which venue-stats and uploads-cleanup take.
        schedule="7,22,37,52 * * * *",
        description=(
            "Refresh gig_words, the words of open gigs' titles and venue names that gig "
            "searches correct typos against (ours; up to 15 minutes stale)."
        ),
        run=search_words,
        in_worker=True,
    ),
)
