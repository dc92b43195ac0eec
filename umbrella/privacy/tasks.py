"""Worker entry points of the privacy domain."""

from __future__ import annotations

import logging

from umbrella.core.jobs import JobContext, JobRun, JobSpec, PermanentJobError
from umbrella.privacy.service import CLEANUP_JOB

log = logging.getLogger(__name__)


async def delete_user_objects(context: JobContext, run: JobRun) -> None:
    """Delete the S3 objects of a deleted account; raises (and is retried) while S3 is down.

    Idempotent: each try lists what is left under the prefixes, so a retry after a partial
    run deletes the rest, and a run after everything is gone deletes nothing.
    """
    if context.storage is None:
        raise RuntimeError("this worker has no S3 storage")
    prefixes = [str(prefix) for prefix in run.payload.get("prefixes", [])]
    keys = [str(key) for key in run.payload.get("keys", [])]
    if any(not prefix.endswith("/") for prefix in prefixes):
        # Deleting "files/a" would also take "files/ab/…": never guess, hold it for a human.
        raise PermanentJobError(f"a prefix must end with '/': {prefixes}")
    deleted = 0
    for prefix in prefixes:
        deleted += await context.storage.delete_prefix(prefix)
    for key in keys:
        await context.storage.delete(key)
    log.info(
        "account objects deleted",
        extra={"prefixes": len(prefixes), "keys": len(keys), "objects": deleted + len(keys)},
    )


JOBS = (
    JobSpec(
        name=CLEANUP_JOB,
        handler=delete_user_objects,
        description="Delete the S3 objects of a deleted account (D-102).",
        # Backoff doubles up to 10 minutes: 25 tries outlast an S3 outage of several hours,
        # after which the job is held for an operator (`umbrella admin jobs retry`).
        max_attempts=25,
    ),
)
