"""Worker entry points of the artists domain."""

from __future__ import annotations

from umbrella.artists import cache as profile_cache
from umbrella.jobs import JobContext, JobRun, JobSpec


async def purge_profile_cache(context: JobContext, run: JobRun) -> None:
    """Delete cached profiles after a change; raises (and is retried) while Redis is down."""
    await profile_cache.purge(context.redis, list(run.payload["artist_ids"]))


JOBS = (
    JobSpec(
        name=profile_cache.PURGE_JOB,
        handler=purge_profile_cache,
        description="Delete cached profiles a moment after a change is committed.",
        # Backoff doubles up to 10 minutes: 25 tries outlast a Redis outage of several hours.
        max_attempts=25,
    ),
)
