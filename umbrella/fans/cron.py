"""Batch jobs of the fans domain."""

from __future__ import annotations

from umbrella.core.cron import CronContext, CronJob
from umbrella.fans import broadcasts


async def broadcasts_scheduled(context: CronContext) -> str:
    started = await broadcasts.start_due_broadcasts()
    resumed = await broadcasts.resume_stalled_broadcasts(settings=context.settings)
    return f"started {len(started)} scheduled broadcasts, resumed {len(resumed)} stalled ones"


CRON_JOBS = (
    CronJob(
        name="broadcasts-scheduled",
        schedule="* * * * *",
        description=(
            "Start fan broadcasts whose time has come (each exactly once) and resume any "
            "whose delivery job was lost."
        ),
        run=broadcasts_scheduled,
        in_worker=True,
    ),
)
