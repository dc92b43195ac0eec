"""Batch jobs of analytics."""

from __future__ import annotations

from datetime import timedelta

from umbrella.analytics import service
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
)
