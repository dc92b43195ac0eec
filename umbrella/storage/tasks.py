"""Worker entry points of the storage domain: deleting objects whose rows are gone."""

from __future__ import annotations

import logging

from umbrella.jobs import JobContext, JobRun, JobSpec, PermanentJobError

log = logging.getLogger(__name__)

DELETE_OBJECTS_JOB = "delete_objects"


async def delete_objects(context: JobContext, run: JobRun) -> None:
    """Delete S3 objects whose rows are gone (keys, and whole folders for a deleted account).

    Idempotent, retried while S3 is down: each try lists what is left under the folders, so
    a retry after a partial run deletes the rest and a later run deletes nothing.
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
    if prefixes:
        log.info(
            "folders deleted",
            extra={"prefixes": len(prefixes), "objects": deleted + len(keys)},
        )


JOBS = (
    JobSpec(
        name=DELETE_OBJECTS_JOB,
        handler=delete_objects,
        description="Delete the S3 objects of deleted accounts, files and tracks, and of "
        "replaced images.",
        # Backoff doubles up to 10 minutes: 25 tries outlast an S3 outage of several hours,
        # after which the job is held for an operator (`umbrella admin jobs retry`).
        max_attempts=25,
    ),
)
