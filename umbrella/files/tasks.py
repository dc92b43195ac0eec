"""Worker entry points of the files domain."""

from __future__ import annotations

from umbrella.core.jobs import JobContext, JobRun, JobSpec

DELETE_OBJECTS_JOB = "delete_objects"


async def delete_objects(context: JobContext, run: JobRun) -> None:
    """Delete S3 objects whose rows are gone; idempotent, retried while S3 is down."""
    if context.storage is None:
        raise RuntimeError("this worker has no S3 storage")
    for key in run.payload["keys"]:
        await context.storage.delete(str(key))


JOBS = (
    JobSpec(
        name=DELETE_OBJECTS_JOB,
        handler=delete_objects,
        description="Delete the S3 objects of deleted or replaced files, tracks and images.",
        # Backoff doubles up to 10 minutes: 25 tries outlast an S3 outage of several hours.
        max_attempts=25,
    ),
)
