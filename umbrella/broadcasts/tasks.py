"""Worker entry points of the broadcasts domain: the delivery engine's job."""

from __future__ import annotations

import logging
from uuid import UUID

from umbrella import jobs
from umbrella.broadcasts import delivery
from umbrella.broadcasts.timing import utcnow
from umbrella.jobs import JobContext, JobRun, JobSpec

log = logging.getLogger(__name__)


async def send_broadcast(context: JobContext, run: JobRun) -> None:
    """Send what is due of one broadcast; come back when deferred texts or retries fall due."""
    broadcast_id = UUID(run.payload["broadcast_id"])
    next_due = await delivery.deliver_broadcast(
        settings=context.settings, email=context.email, sms=context.sms, broadcast_id=broadcast_id
    )
    if next_due is None:
        return
    delay = next_due - utcnow()
    # A lost enqueue here is not a lost broadcast: the broadcasts-scheduled cron resumes it.
    await jobs.enqueue(
        delivery.SEND_JOB,
        {"broadcast_id": str(broadcast_id)},
        delay=max(delay, delivery.MIN_REVISIT),
    )
    log.info(
        "broadcast paused until its next delivery is due",
        extra={"broadcast_id": broadcast_id, "next_due": next_due.isoformat()},
    )


JOBS = (
    JobSpec(
        name=delivery.SEND_JOB,
        handler=send_broadcast,
        description=(
            "Send a fan broadcast's due deliveries (email batches, texts through the shared "
            "limiter) exactly once each, resuming where a dead worker stopped."
        ),
    ),
)
