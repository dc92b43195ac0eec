"""Batch jobs of operations: housekeeping of the job queue's tables."""

from __future__ import annotations

from datetime import timedelta

from umbrella.core.cron import CronContext, CronJob
from umbrella.ops import service


async def queue_log_prune(context: CronContext) -> str:
    days = context.settings.queue_log_retention_days
    deleted = await service.delete_old_queue_log(older_than=timedelta(days=days))
    return f"deleted {deleted} queue log rows older than {days} days"


CRON_JOBS = (
    CronJob(
        name="queue-log-prune",
        schedule="40 2 * * *",
        description=(
            "Delete pgqueuer_log rows older than UMBRELLA_QUEUE_LOG_RETENTION_DAYS, in "
            "batches (the log of a job still held in the queue stays)."
        ),
        run=queue_log_prune,
    ),
)
