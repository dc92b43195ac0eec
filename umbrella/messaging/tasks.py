"""Worker entry points of the messaging domain."""

from __future__ import annotations

import logging
from uuid import UUID

from umbrella.core.cache import REDIS_DOWN_ERRORS
from umbrella.jobs import JobContext, JobRun, JobSpec
from umbrella.messaging import cache as inbox_cache

log = logging.getLogger(__name__)


async def sync_inbox_versions(context: JobContext, run: JobRun) -> None:
    """Copy users' inbox versions to Redis after a change; retried while Redis is down.

    Its last try gives up quietly: by then every copy it could fix has expired (60 s TTL).
    """
    user_ids = [UUID(str(user_id)) for user_id in run.payload["user_ids"]]
    try:
        await inbox_cache.sync(context.redis, user_ids)
    except REDIS_DOWN_ERRORS:
        if not run.is_last_attempt:
            raise
        log.warning("redis unavailable; inbox versions left to expire", extra={"job": run.name})


JOBS = (
    JobSpec(
        name=inbox_cache.SYNC_JOB,
        handler=sync_inbox_versions,
        description="Copy changed inbox versions to Redis, so a poll never misses a change.",
        # 1 s, 2 s … 64 s: past two minutes the cached versions have expired anyway.
        max_attempts=8,
    ),
)
