"""Cron jobs: one-shot batches, run by the worker's scheduler or by Kubernetes CronJobs.

Each domain lists its jobs in `CRON_JOBS` inside its `cron.py`. Sub-hourly jobs are
`in_worker`: the worker runs them on the queue's scheduler (`umbrella.core.schedules`),
exactly once across workers, rather than starting a pod every few minutes; the hourly and
daily ones stay Kubernetes CronJobs running `umbrella cron <job>`. Either way a run is
recorded in `cron_runs` (start, end, outcome) and holds a Postgres advisory lock, so two
overlapping runs (a scheduled one and one started by hand) never run the same job at once.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
import sys
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from croniter import croniter
from redis.asyncio import Redis

from umbrella.config import Settings
from umbrella.core import cache, db
from umbrella.core.cron_runs import CronRun

log = logging.getLogger(__name__)

# Domains whose cron.py holds batch jobs.
CRON_MODULES = (
    "umbrella.accounts.cron",
    "umbrella.analytics.cron",
    "umbrella.broadcasts.cron",
    "umbrella.storage.cron",
    "umbrella.gigs.cron",
    "umbrella.alerts.cron",
    "umbrella.search.cron",
    "umbrella.ops.cron",
)


@dataclass
class CronContext:
    settings: Settings
    redis: Redis | None
    # `umbrella cron <job> --date YYYY-MM-DD`: the UTC day a dated job works on (a re-run).
    day: date | None = None


@dataclass(frozen=True)
class CronJob:
    """A batch job: its name, its UTC schedule and what it does (returns a one-line summary)."""

    name: str
    schedule: str
    description: str
    run: Callable[[CronContext], Awaitable[str]]
    # Only jobs that work on one day accept `--date`; the others refuse it (exit 2).
    takes_date: bool = False
    # Sub-hourly jobs run inside the worker (a pod a minute is too dear); the others are
    # Kubernetes CronJobs. `umbrella cron <job>` runs either by hand.
    in_worker: bool = False

    @property
    def runs_in(self) -> str:
        """Where the job is scheduled: `worker` or `cronjob`."""
        return "worker" if self.in_worker else "cronjob"

    def __post_init__(self) -> None:
        if not croniter.is_valid(self.schedule):
            raise ValueError(f"cron job {self.name!r} has an invalid schedule {self.schedule!r}")


@functools.cache
def all_cron_jobs() -> dict[str, CronJob]:
    """Every cron job of every domain, by name (the worker's and the CronJobs')."""
    jobs: dict[str, CronJob] = {}
    for module_name in CRON_MODULES:
        for job in importlib.import_module(module_name).CRON_JOBS:
            if job.name in jobs:
                raise RuntimeError(f"cron job {job.name!r} is defined twice")
            jobs[job.name] = job
    return dict(sorted(jobs.items()))


def worker_cron_jobs() -> list[CronJob]:
    """The jobs the worker's scheduler runs; the Helm chart has a CronJob for each other one."""
    return [job for job in all_cron_jobs().values() if job.in_worker]


class CronAlreadyRunning(Exception):
    """Another process holds this job's lock."""


@dataclass(frozen=True)
class CronOutcome:
    run_id: str
    summary: str


async def run_cron_job(job: CronJob, context: CronContext) -> CronOutcome:
    """Run one job under its advisory lock and record the run; re-raise its failure."""
    engine = db.engine()
    if engine.pool is None:
        raise RuntimeError("the database pool is not running")
    lock_key = zlib.crc32(f"umbrella.cron.{job.name}".encode())
    async with engine.pool.acquire() as lock_connection:
        if not await lock_connection.fetchval("SELECT pg_try_advisory_lock($1)", lock_key):
            raise CronAlreadyRunning(job.name)
        try:
            return await _run_recorded(job, context)
        finally:
            await lock_connection.execute("SELECT pg_advisory_unlock($1)", lock_key)


async def _run_recorded(job: CronJob, context: CronContext) -> CronOutcome:
    rows = await CronRun.insert(
        CronRun(job=job.name, started_at=datetime.now(UTC), outcome="running")
    ).returning(CronRun.id)
    run_id = rows[0]["id"]
    try:
        summary = await job.run(context)
    except BaseException as error:
        await CronRun.update(
            {
                CronRun.finished_at: datetime.now(UTC),
                CronRun.outcome: "failed",
                CronRun.error: _describe(error)[:2000],
            }
        ).where(CronRun.id == run_id)
        raise
    await CronRun.update(
        {CronRun.finished_at: datetime.now(UTC), CronRun.outcome: "succeeded"}
    ).where(CronRun.id == run_id)
    return CronOutcome(run_id=str(run_id), summary=summary)


async def run_once(settings: Settings, name: str, *, day: date | None = None) -> int:
    """Run one job now in a process of its own, as its CronJob does; 0 on success or a skip.

    `umbrella cron <job>` and `umbrella admin cron run` both run a job this way: its own
    database pool, Redis when it answers, the job's lock and its `cron_runs` record. A run
    already holding the lock is a skip (0); a failure is logged, named on stderr and is 1.
    """
    job = all_cron_jobs()[name]
    async with db.database(settings, application_name=f"umbrella-cron-{name}"):
        redis: Redis | None = cache.client(settings)
        try:
            await redis.ping()  # type: ignore[union-attr]
        except cache.REDIS_DOWN_ERRORS:
            log.warning("redis unavailable; the job runs without it", extra={"job": name})
            await redis.aclose()  # type: ignore[union-attr]
            redis = None
        try:
            outcome = await run_cron_job(job, CronContext(settings=settings, redis=redis, day=day))
        except CronAlreadyRunning:
            log.warning("another run of this job holds its lock; skipping", extra={"job": name})
            return 0
        except Exception as error:
            log.exception("cron job failed", extra={"job": name})
            sys.stderr.write(f"umbrella cron {name}: failed: {type(error).__name__}: {error}\n")
            return 1
        finally:
            if redis is not None:
                await redis.aclose()
    log.info("cron job succeeded", extra={"job": name, "summary": outcome.summary})
    sys.stdout.write(f"{name}: {outcome.summary}\n")
    return 0


def _describe(error: BaseException) -> str:
    if isinstance(error, asyncio.CancelledError):
        # The worker stopping past its drain bound; the next due time runs the job again.
        return "cancelled before it finished (the process was stopping)"
    return f"{type(error).__name__}: {error}"
