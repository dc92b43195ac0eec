"""Batch jobs of the storage domain: uploads never confirmed, and stray upload objects."""

from __future__ import annotations

from umbrella.core import storage as core_storage
from umbrella.core.cron import CronContext, CronJob
from umbrella.storage import uploads


async def uploads_cleanup(context: CronContext) -> str:
    async with core_storage.storage(context.settings) as store:
        removed = await uploads.delete_expired(storage=store)
        swept = await uploads.sweep(storage=store)
    return f"removed {removed} expired uploads, swept {swept} stray upload objects"


CRON_JOBS = (
    CronJob(
        name="uploads-cleanup",
        schedule="*/15 * * * *",
        description="Delete uploads never confirmed before they expired (objects and record), "
        "and upload objects no open upload waits for (posted again after a confirm).",
        run=uploads_cleanup,
        in_worker=True,
    ),
)
