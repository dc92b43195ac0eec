"""Batch jobs of analytics."""

from __future__ import annotations

from datetime import timedelta

from umbrella.analytics import profile_views, service
from umbrella.core.cron import CronContext, CronJob
from umbrella.piccolo_conf import DB
from umbrella.studio import goals as studio_goals


async def analytics_daily(context: CronContext) -> str:
    # D-008: at midnight UTC the day that just ended; `--date` re-runs or backfills a day.
    day = context.day or service.today() - timedelta(days=1)
    async with DB.transaction():
        written = await service.create_daily_metrics(day=day)
        goals = await studio_goals.update_goals_reached(on=day)
    # D-068: the spotlight is for the day the job runs on, whatever day it aggregated.
    spotlight = await service.create_spotlight(redis=context.redis, on=service.today())
    return (
        f"wrote {written} daily_metrics rows for {day.isoformat()} (unchanged rows skipped),"
        f" completed {goals} goals, {len(spotlight)} artists in the spotlight"
    )


async def profile_views_flush(context: CronContext) -> str:
    # Views are counted in Redis so a profile read never writes to Postgres; this moves them.
    if context.redis is None:
        # The counts live in Redis: nothing can be moved, and the run must show as failed.
        raise RuntimeError("redis is unavailable; the view counts wait there for the next run")
    flushed = await profile_views.flush_profile_views(redis=context.redis)
    return f"flushed {flushed.views} profile views from {flushed.hashes} daily hashes"


CRON_JOBS = (
    CronJob(
        name="analytics-daily",
        schedule="0 0 * * *",
        description=(
            "D-008: one daily_metrics row per artist for the previous UTC day (or --date),"
            " goals reached, and the day's spotlight (D-068)."
        ),
        run=analytics_daily,
        takes_date=True,
    ),
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
