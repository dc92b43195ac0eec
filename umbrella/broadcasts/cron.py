"""Batch jobs of the broadcasts domain: scheduled starts and the resumption of lost jobs."""

from __future__ import annotations

from umbrella.broadcasts import service
from umbrella.core.cron import CronContext, CronJob


async def broadcasts_scheduled(context: CronContext) -> str:
    started = await service.start_due_broadcasts()
    resumed = await service.resume_stalled_broadcasts(settings=context.settings)
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
