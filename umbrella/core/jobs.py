"""Durable background jobs on pgqueuer, in the same Postgres as the business data.

A job is enqueued on the caller's transaction connection, so a rolled-back write never
sends anything and a committed one is never lost. Each domain lists its jobs in `JOBS`
inside its `tasks.py`; the worker registers them all.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import asyncpg
from pgqueuer import Queries
from pgqueuer.db import AsyncpgDriver
from pgqueuer.executors import DatabaseRetryEntrypointExecutor
from pgqueuer.models import Job
from pgqueuer.qm import QueueManager
from redis.asyncio import Redis

from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.storage import Storage
from umbrella.observability.metrics import Metrics

log = logging.getLogger(__name__)

# Domains whose tasks.py holds worker entry points.
TASK_MODULES = ("umbrella.accounts.tasks",)


@dataclass
class JobContext:
    """What a job handler may use: the same resources the api has."""

    settings: Settings
    redis: Redis
    storage: Storage | None
    metrics: Metrics


JobHandler = Callable[[JobContext, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class JobSpec:
    """A worker entry point: a `verb_noun` name, an idempotent handler taking ids."""

    name: str
    handler: JobHandler
    description: str
    concurrency_limit: int = 0
    max_attempts: int | None = None  # None: UMBRELLA_JOB_MAX_ATTEMPTS


@functools.cache
def all_jobs() -> dict[str, JobSpec]:
    """Every job of every domain, by name (a duplicate name is a programming error)."""
    jobs: dict[str, JobSpec] = {}
    for module_name in TASK_MODULES:
        module = importlib.import_module(module_name)
        for spec in module.JOBS:
            if spec.name in jobs:
                raise RuntimeError(f"job {spec.name!r} is defined twice")
            jobs[spec.name] = spec
    return jobs


async def enqueue(
    name: str,
    payload: Mapping[str, Any],
    *,
    delay: timedelta | None = None,
    dedupe_key: str | None = None,
) -> int:
    """Queue a job; inside `DB.transaction()` it commits (or vanishes) with that transaction."""
    if name not in all_jobs():
        raise ValueError(f"unknown job {name!r}")
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    engine = db.engine()
    transaction = engine.current_transaction.get()
    if transaction is not None:
        ids = await Queries(AsyncpgDriver(transaction.connection)).enqueue(
            name, body, execute_after=delay, dedupe_key=dedupe_key
        )
        return int(ids[0])
    if engine.pool is None:
        raise RuntimeError("the database pool is not running")
    async with engine.pool.acquire() as connection:
        ids = await Queries(AsyncpgDriver(connection)).enqueue(
            name, body, execute_after=delay, dedupe_key=dedupe_key
        )
    return int(ids[0])


def _instrumented(spec: JobSpec, context: JobContext) -> Callable[[Job], Awaitable[None]]:
    async def run(job: Job) -> None:
        payload = json.loads(job.payload) if job.payload else {}
        started = time.perf_counter()
        try:
            await spec.handler(context, payload)
        except Exception:
            attempts_left = (spec.max_attempts or context.settings.job_max_attempts) - job.attempts
            outcome = "retried" if attempts_left > 0 else "failed"
            context.metrics.jobs.labels(spec.name, outcome).inc()
            log.warning(
                "job failed",
                exc_info=True,
                extra={"job": spec.name, "job_id": int(job.id), "attempt": job.attempts + 1},
            )
            raise
        finally:
            context.metrics.job_duration.labels(spec.name).observe(time.perf_counter() - started)
        context.metrics.jobs.labels(spec.name, "succeeded").inc()

    return run


def build_queue_manager(
    connection: asyncpg.Connection, context: JobContext, jobs: Mapping[str, JobSpec]
) -> QueueManager:
    """A pgqueuer consumer with every job registered: retried with backoff, then held."""
    manager = QueueManager(Queries(AsyncpgDriver(connection)))
    for spec in jobs.values():
        max_attempts = spec.max_attempts or context.settings.job_max_attempts

        def executor(parameters: Any, *, attempts: int = max_attempts) -> Any:
            # 1 s, 2 s, 4 s … (SPEC §6); after the last try the job is kept as failed.
            return DatabaseRetryEntrypointExecutor(
                parameters,
                max_attempts=attempts,
                initial_delay=timedelta(seconds=1),
                max_delay=timedelta(minutes=10),
            )

        manager.entrypoint(
            spec.name,
            concurrency_limit=spec.concurrency_limit,
            on_failure="hold",
            executor_factory=executor,
        )(_instrumented(spec, context))
    return manager
