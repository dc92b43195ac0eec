"""Batch jobs of the artists domain."""

from __future__ import annotations

from umbrella.artists import profile_views
from umbrella.core.cron import CronContext, CronJob


async def profile_views_flush(context: CronContext) -> str:
    # Views are counted in Redis so a profile read never writes to Postgres; this moves them.
    if context.redis is None:
        # The counts live in Redis: nothing can be moved, and the run must show as failed.
        raise RuntimeError("redis is unavailable; the view counts wait there for the next run")
    flushed = await profile_views.flush_profile_views(redis=context.redis)
    return f"flushed {flushed.views} profile views from {flushed.hashes} daily hashes"


CRON_JOBS = (
    CronJob(
        name="profile-views-flush",
        schedule="*/5 * * * *",
        description=(
            "Move profile views counted in Redis into profile_view_counts and "
            "artists.profile_views (at-least-once)."
        ),
        run=profile_views_flush,
        in_worker=True,
    ),
)
