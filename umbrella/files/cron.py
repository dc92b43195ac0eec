"""Batch jobs of the files domain."""

from __future__ import annotations

from umbrella.core import storage as core_storage
from umbrella.core.cron import CronContext, CronJob
from umbrella.files import service


async def uploads_cleanup(context: CronContext) -> str:
    async with core_storage.storage(context.settings) as store:
        removed = await service.delete_expired_uploads(storage=store)
    return f"removed {removed} expired uploads"


CRON_JOBS = (
    CronJob(
        name="uploads-cleanup",
        schedule="*/15 * * * *",
        description="Delete uploads never confirmed before they expired (object and record).",
        run=uploads_cleanup,
    ),
)
