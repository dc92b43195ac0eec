"""The worker's scheduler: the `in_worker` cron jobs on pgqueuer's SchedulerManager.

Each job has one row in `pgqueuer_schedules` holding its next due time. Every worker
polls; `FOR UPDATE SKIP LOCKED` hands a due row to one of them, which moves `next_run` on
before running the job, so a due time runs exactly once however many workers there are.
A run goes through `run_cron_job`, as `umbrella cron <job>` does: under the job's advisory
lock (a run started by hand never overlaps it) and recorded in `cron_runs`, which the
last-success metric and its alert read. A worker that dies mid-run leaves its row
`picked`; once the row's heartbeat is 30 s old another worker runs the job again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
from croniter import croniter
from pgqueuer import Queries
from pgqueuer.db import AsyncpgDriver
from pgqueuer.models import Schedule
from pgqueuer.sm import SchedulerManager
from redis.asyncio import Redis

from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.cron import CronAlreadyRunning, CronContext, CronJob, run_cron_job

log = logging.getLogger(__name__)


def stored_expression(schedule: str) -> str:
    """A schedule as pgqueuer stores it in `pgqueuer_schedules.expression` (normalised)."""
    return " ".join(str(field) for field in croniter(schedule).expressions)


def build_scheduler(
    connection: asyncpg.Connection,
    settings: Settings,
    *,
    redis: Redis | None,
    cron_jobs: Sequence[CronJob],
    running: set[str],
) -> SchedulerManager:
    """A scheduler of `cron_jobs` on `connection`; a job's name is in `running` while it runs."""
    scheduler = SchedulerManager(Queries(AsyncpgDriver(connection)))
    for job in cron_jobs:
        scheduler.schedule(job.name, job.schedule)(
            _scheduled_run(job, settings, redis=redis, running=running)
        )
    return scheduler


def _scheduled_run(
    job: CronJob, settings: Settings, *, redis: Redis | None, running: set[str]
) -> Callable[[Schedule], Awaitable[None]]:
    async def run(schedule: Schedule) -> None:
        running.add(job.name)
        started = time.monotonic()
        try:
            outcome = await run_cron_job(job, CronContext(settings=settings, redis=redis))
        except CronAlreadyRunning:
            log.warning("another run of this job holds its lock; skipping", extra={"job": job.name})
        except Exception as error:
            # Recorded as failed in cron_runs (when Postgres answers); the next due time
            # tries again. An outage is the scheduler's to report, once, not each job's.
            if db.postgres_down(error):
                log.warning(
                    "cron job could not reach postgres",
                    extra={"job": job.name, "error": type(error).__name__},
                )
            else:
                log.exception("cron job failed", extra={"job": job.name})
        else:
            log.info(
                "cron job succeeded",
                extra={
                    "job": job.name,
                    "summary": outcome.summary,
                    "seconds": round(time.monotonic() - started, 3),
                },
            )
        finally:
            running.discard(job.name)

    return run


async def forget_other_schedules(
    connection: asyncpg.Connection, cron_jobs: Sequence[CronJob]
) -> int:
    """Delete the schedule rows of jobs no longer run here (renamed, rescheduled, made a
    CronJob), which would otherwise sit in the table for good; return how many went."""
    status: str = await connection.execute(
        """
        DELETE FROM pgqueuer_schedules
         WHERE (entrypoint, expression) NOT IN (
               SELECT * FROM unnest($1::text[], $2::text[]))
        """,
        [job.name for job in cron_jobs],
        [stored_expression(job.schedule) for job in cron_jobs],
    )
    return int(status.split()[-1])
