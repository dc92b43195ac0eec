"""Worker entry points of the accounts domain."""

from __future__ import annotations

from umbrella.accounts.service import PURGE_SESSION_CACHE_JOB, purge_cached_sessions
from umbrella.jobs import JobContext, JobRun, JobSpec


async def purge_session_cache(context: JobContext, run: JobRun) -> None:
    """Delete revoked sessions from Redis; raises (and is retried) while Redis is down."""
    await purge_cached_sessions(
        context.redis, list(run.payload["token_hashes"]), raise_on_error=True
    )


JOBS = (
    JobSpec(
        name=PURGE_SESSION_CACHE_JOB,
        handler=purge_session_cache,
        description="Forget revoked sessions in Redis once it is reachable.",
        # Backoff doubles up to 10 minutes: 25 tries outlast a Redis outage of several hours.
        max_attempts=25,
    ),
)
