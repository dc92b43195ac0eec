"""Durable background jobs on pgqueuer, in the same Postgres as the business data.

A job is enqueued on the caller's transaction connection, so a rolled-back write never
sends anything and a committed one is never lost. Each domain lists its jobs in `JOBS`
inside its `tasks.py`; the worker registers them all. A failing job is retried with
exponential backoff (1 s, 2 s, 4 s …) and after its last try is held with status
`failed` and its error until an operator re-queues it (`umbrella admin jobs retry`).
The W3C trace context of the enqueuing request travels in the job row's headers, so a
trace spans api → worker.
"""

from __future__ import annotations

import functools
import importlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from pgqueuer import Queries
from pgqueuer.adapters.tracing.opentelemetry import OpenTelemetryTracing
from pgqueuer.db import AsyncpgDriver
from pgqueuer.errors import RetryRequested
from pgqueuer.executors import DatabaseRetryEntrypointExecutor, EntrypointExecutor
from pgqueuer.models import Context, Job
from pgqueuer.ports.tracing import TracingProtocol
from pgqueuer.qm import QueueManager
from redis.asyncio import Redis

from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.storage import Storage
from umbrella.integrations.email import EmailSender
from umbrella.integrations.sms import SmsSender
from umbrella.observability.metrics import Metrics

log = logging.getLogger(__name__)

# Domains whose tasks.py holds worker entry points.
TASK_MODULES = (
    "umbrella.accounts.tasks",
    "umbrella.artists.tasks",
    "umbrella.broadcasts.tasks",
    "umbrella.storage.tasks",
    "umbrella.messaging.tasks",
    "umbrella.notifications.tasks",
)

# Injects the current span into each job's headers and parents the worker's span on it;
# it resolves the global tracer provider lazily, so it costs nothing while tracing is off.
TRACING: TracingProtocol = OpenTelemetryTracing(instrumentation_name="umbrella.jobs")


@dataclass
class JobContext:
    """What a job handler may use: the same resources the api has, plus the senders."""

    settings: Settings
    redis: Redis
    storage: Storage | None
    metrics: Metrics
    email: EmailSender
    sms: SmsSender
    # The jobs running on this worker now (id → name): the drain names the ones it cancels.
    running: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JobRun:
    """One try of one job: its payload and where the try stands among the allowed ones."""

    id: int
    name: str
    payload: dict[str, Any]
    attempt: int  # 1 on the first try
    max_attempts: int

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


JobHandler = Callable[[JobContext, JobRun], Awaitable[None]]


class PermanentJobError(Exception):
    """A failure no retry can fix: the job is held as failed at once, without more tries."""


@dataclass(frozen=True)
class JobSpec:
    """A worker entry point: a `verb_noun` name, an idempotent handler taking ids."""

    name: str
    handler: JobHandler
    description: str
    concurrency_limit: int = 0
    max_attempts: int | None = None  # None: UMBRELLA_JOB_MAX_ATTEMPTS

    def attempts(self, settings: Settings) -> int:
        return self.max_attempts or settings.job_max_attempts


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


def _queries(connection: asyncpg.Connection) -> Queries:
    return Queries(AsyncpgDriver(connection), tracer=TRACING)


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
        ids = await _queries(transaction.connection).enqueue(
            name, body, execute_after=delay, dedupe_key=dedupe_key
        )
        return int(ids[0])
    if engine.pool is None:
        raise RuntimeError("the database pool is not running")
    async with engine.pool.acquire() as connection:
        ids = await _queries(connection).enqueue(
            name, body, execute_after=delay, dedupe_key=dedupe_key
        )
    return int(ids[0])


class _RetryingExecutor(DatabaseRetryEntrypointExecutor):
    """Backoff retries as pgqueuer does them, except that a `PermanentJobError` is final."""

    async def execute(self, job: Job, context: Context) -> None:
        try:
            await EntrypointExecutor.execute(self, job, context)
        except PermanentJobError:
            raise
        except Exception as error:
            if job.attempts >= self.max_attempts:
                raise
            delay = min(
                self.initial_delay * (self.backoff_multiplier**job.attempts), self.max_delay
            )
            raise RetryRequested(delay=delay, reason=str(error)) from error


def _instrumented(spec: JobSpec, context: JobContext) -> Callable[[Job], Awaitable[None]]:
    max_attempts = spec.attempts(context.settings)

    async def run(job: Job) -> None:
        attempt = job.attempts + 1
        payload = json.loads(job.payload) if job.payload else {}
        job_run = JobRun(
            id=int(job.id),
            name=spec.name,
            payload=payload,
            attempt=attempt,
            max_attempts=max_attempts,
        )
        started = time.perf_counter()
        context.running[job_run.id] = spec.name
        try:
            await spec.handler(context, job_run)
        except Exception as error:
            final = isinstance(error, PermanentJobError) or job_run.is_last_attempt
            context.metrics.jobs.labels(spec.name, "failed" if final else "retried").inc()
            log.warning(
                "job failed" if final else "job failed; it will be retried",
                exc_info=final,
                extra={
                    "job": spec.name,
                    "job_id": job_run.id,
                    "attempt": attempt,
                    "max_attempts": max_attempts,
                    "error": f"{type(error).__name__}: {error}",
                },
            )
            raise
        finally:
            context.running.pop(job_run.id, None)
            context.metrics.job_duration.labels(spec.name).observe(time.perf_counter() - started)
        context.metrics.jobs.labels(spec.name, "succeeded").inc()

    return run


def build_queue_manager(
    connection: asyncpg.Connection,
    context: JobContext,
    jobs: Mapping[str, JobSpec],
    *,
    tracer: TracingProtocol | None = None,
) -> QueueManager:
    """A pgqueuer consumer with every job registered: retried with backoff, then held."""
    manager = QueueManager(_queries(connection))
    manager.tracer = tracer or TRACING
    for spec in jobs.values():
        # pgqueuer counts retries: after `attempts - 1` of them the next failure is final.
        retries = spec.attempts(context.settings) - 1

        def executor(parameters: Any, *, retries: int = retries) -> Any:
            # 1 s, 2 s, 4 s … (SPEC §6), at most 10 minutes apart; then the job is held.
            return _RetryingExecutor(
                parameters,
                max_attempts=retries,
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


@dataclass(frozen=True)
class FailedJob:
    """A job held after its last try, with the error that ended it."""

    id: int
    name: str
    attempts: int
    created_at: datetime
    failed_at: datetime
    payload: dict[str, Any]
    error: str | None


async def list_failed_jobs(*, limit: int = 100, name: str | None = None) -> list[FailedJob]:
    """The jobs held as failed, most recently failed first, each with its last error."""
    pool = db.engine().pool
    if pool is None:
        raise RuntimeError("the database pool is not running")
    async with pool.acquire() as connection:
        rows = await connection.fetch(
            """
            SELECT q.id, q.entrypoint, q.attempts, q.created, q.updated, q.payload,
                   (SELECT l.traceback FROM pgqueuer_log l
                     WHERE l.job_id = q.id AND l.traceback IS NOT NULL
                     ORDER BY l.id DESC LIMIT 1) AS traceback
              FROM pgqueuer q
             WHERE q.status = 'failed' AND ($1::text IS NULL OR q.entrypoint = $1)
             ORDER BY q.updated DESC, q.id DESC
             LIMIT $2
            """,
            name,
            limit,
        )
    return [_failed_job(row) for row in rows]


def _failed_job(row: Mapping[str, Any]) -> FailedJob:
    error: str | None = None
    if row["traceback"]:
        record = json.loads(row["traceback"])
        error = f"{record.get('exception_type')}: {record.get('exception_message')}"
    return FailedJob(
        id=int(row["id"]),
        name=row["entrypoint"],
        attempts=int(row["attempts"]) + 1,
        created_at=row["created"],
        failed_at=row["updated"],
        payload=json.loads(row["payload"]) if row["payload"] else {},
        error=error,
    )


async def retry_failed_jobs(*, job_ids: Sequence[int] | None) -> list[int]:
    """Put held jobs back on the queue with their tries reset; `None` re-queues all of them."""
    pool = db.engine().pool
    if pool is None:
        raise RuntimeError("the database pool is not running")
    async with pool.acquire() as connection, connection.transaction():
        if job_ids is None:
            rows = await connection.fetch(
                "SELECT id FROM pgqueuer WHERE status = 'failed' FOR UPDATE SKIP LOCKED"
            )
        else:
            rows = await connection.fetch(
                "SELECT id FROM pgqueuer WHERE status = 'failed' AND id = ANY($1::bigint[])"
                " FOR UPDATE",
                list(job_ids),
            )
        ids = [int(row["id"]) for row in rows]
        if ids:
            await _queries(connection).requeue_jobs(ids)  # type: ignore[arg-type]
    return ids
