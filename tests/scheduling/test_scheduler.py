"""Sub-hourly cron jobs inside the worker: each due time runs once across workers, recorded."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from datetime import UTC, datetime

import aiohttp
import pytest
from croniter import croniter
from piccolo.engine.postgres import PostgresEngine

from tests.conftest import start_umbrella, subprocess_env
from tests.workers import eventually
from umbrella.config import Settings
from umbrella.core import db as core_db
from umbrella.core.cron import CronContext, CronJob, all_cron_jobs, worker_cron_jobs
from umbrella.core.cron_runs import CronRun
from umbrella.core.migrations import migrate
from umbrella.core.schedules import stored_expression
from umbrella.devstack import DevStack, free_port
from umbrella.worker import schedule_until_stopped

SUB_HOURLY = {
    "broadcasts-scheduled",
    "profile-views-flush",
    "search-words",
    "uploads-cleanup",
    "venue-stats",
}


def test_the_sub_hourly_jobs_run_in_the_worker_and_the_others_in_cronjobs() -> None:
    assert {job.name for job in worker_cron_jobs()} == SUB_HOURLY
    for job in all_cron_jobs().values():
        fires = croniter(job.schedule, datetime(2026, 1, 1, tzinfo=UTC))
        gap = (fires.get_next(datetime) - fires.get_prev(datetime)).total_seconds()
        assert job.in_worker == (gap < 3600), job.name


async def make_due(db: PostgresEngine, name: str, schedule: str) -> None:
    """The job's schedule row as the scheduler leaves it, with its due time passed."""
    await db.run_ddl(
        f"""
        INSERT INTO pgqueuer_schedules (entrypoint, expression, next_run)
        VALUES ('{name}', '{stored_expression(schedule)}', now() - interval '1 second')
        ON CONFLICT (entrypoint, expression) DO UPDATE SET next_run = EXCLUDED.next_run
        """
    )


async def runs_of(name: str) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = (
        await CronRun.select(CronRun.outcome, CronRun.started_at)
        .where(CronRun.job == name)
        .order_by(CronRun.started_at)
    )
    return rows


async def test_two_schedulers_run_a_due_job_once_and_record_it(
    settings: Settings, db: PostgresEngine
) -> None:
    calls: list[datetime] = []

    async def slow_batch(context: CronContext) -> str:
        calls.append(datetime.now(UTC))
        await asyncio.sleep(0.5)  # long enough for the other scheduler to look meanwhile
        return "done"

    # Once a year: after its run the job cannot come due again within the test.
    job = CronJob(name="test-yearly", schedule="0 0 1 1 *", description="-", run=slow_batch)
    await make_due(db, job.name, job.schedule)
    stopping = asyncio.Event()
    workers = [
        asyncio.create_task(schedule_until_stopped(settings, stopping, redis=None, cron_jobs=[job]))
        for _ in range(2)
    ]
    try:
        await eventually(
            lambda: _succeeded(job.name), what="the due run recorded as succeeded", seconds=20
        )
        await asyncio.sleep(1.5)  # both schedulers have polled since the run started
    finally:
        stopping.set()
        await asyncio.wait_for(asyncio.gather(*workers), 20)
    assert len(calls) == 1
    assert [row["outcome"] for row in await runs_of(job.name)] == ["succeeded"]
    [row] = await db.run_ddl(
        f"SELECT status::text AS status, next_run FROM pgqueuer_schedules"
        f" WHERE entrypoint = '{job.name}'"
    )
    assert row["status"] == "queued"
    assert row["next_run"] > datetime.now(UTC)  # moved on to next year's due time


async def test_a_stale_schedule_row_is_forgotten(settings: Settings, db: PostgresEngine) -> None:
    await make_due(db, "renamed-long-ago", "*/5 * * * *")
    job = CronJob(name="test-yearly", schedule="0 0 1 1 *", description="-", run=_nothing)
    stopping = asyncio.Event()
    worker = asyncio.create_task(
        schedule_until_stopped(settings, stopping, redis=None, cron_jobs=[job])
    )
    try:

        async def only_ours() -> bool:
            rows = await db.run_ddl("SELECT entrypoint FROM pgqueuer_schedules")
            return [row["entrypoint"] for row in rows] == [job.name]

        await eventually(only_ours, what="only the registered job's row is left")
    finally:
        stopping.set()
        await asyncio.wait_for(worker, 20)
    assert await runs_of("renamed-long-ago") == []


async def _nothing(context: CronContext) -> str:
    return "nothing"


async def _succeeded(name: str) -> bool:
    return any(row["outcome"] == "succeeded" for row in await runs_of(name))


async def test_two_worker_processes_run_a_due_in_worker_job_once(
    settings: Settings, db: PostgresEngine
) -> None:
    venue_stats = all_cron_jobs()["venue-stats"]
    assert venue_stats.in_worker
    began = datetime.now(UTC)
    await make_due(db, venue_stats.name, venue_stats.schedule)
    ports = [free_port(), free_port()]
    workers = [
        await start_umbrella(
            "worker", env=subprocess_env(settings, UMBRELLA_WORKER_METRICS_PORT=str(port))
        )
        for port in ports
    ]
    try:
        await eventually(
            lambda: _succeeded(venue_stats.name), what="venue-stats run by a worker", seconds=60
        )
        await asyncio.sleep(2.0)  # the later worker has started and polled too
        # The late-job alert reads the run like a CronJob's (sampled every 15 s).
        await eventually(
            lambda: _last_success_exported(ports[1], "venue-stats"),
            what="the run in umbrella_cron_last_success_timestamp_seconds",
            seconds=40,
        )
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        outputs = [(await asyncio.wait_for(w.communicate(), 30))[0].decode() for w in workers]
    # The workers ran until now: a quarter hour striking while the metric was awaited is
    # a due time of theirs too.
    ended = datetime.now(UTC)
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output[-3000:]
    # Once for the due time we set (once more only if a quarter hour struck meanwhile).
    due_meanwhile = _due_times_between(venue_stats.schedule, began, ended)
    runs = await runs_of(venue_stats.name)
    assert 1 <= len(runs) <= 1 + due_meanwhile, runs
    assert {row["outcome"] for row in runs} == {"succeeded"}
    assert any('"job": "venue-stats"' in output for output in outputs)


async def _last_success_exported(port: int, name: str) -> bool:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        text = await response.text()
    return any(
        line.startswith("umbrella_cron_last_success_timestamp_seconds{")
        and f'cron_job="{name}"' in line
        for line in text.splitlines()
    )


async def test_a_worker_with_its_scheduler_off_runs_no_cron_job(
    settings: Settings, db: PostgresEngine
) -> None:
    venue_stats = all_cron_jobs()["venue-stats"]
    await make_due(db, venue_stats.name, venue_stats.schedule)
    port = free_port()
    worker = await start_umbrella(
        "worker",
        env=subprocess_env(
            settings,
            UMBRELLA_WORKER_METRICS_PORT=str(port),
            UMBRELLA_WORKER_SCHEDULER_ENABLED="false",
        ),
    )
    try:

        async def live() -> bool:
            try:
                async with (
                    aiohttp.ClientSession() as http,
                    http.get(f"http://127.0.0.1:{port}/livez") as response,
                ):
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await eventually(live, what="the worker is up", seconds=30)
        await asyncio.sleep(2.0)  # a scheduler would have picked the due row by now
    finally:
        worker.send_signal(signal.SIGTERM)
        output = (await asyncio.wait_for(worker.communicate(), 30))[0].decode()
    assert worker.returncode == 0, output[-3000:]
    assert await runs_of(venue_stats.name) == []
    assert "scheduler started" not in output


def _due_times_between(schedule: str, start: datetime, end: datetime) -> int:
    fires = croniter(schedule, start)
    count = 0
    while fires.get_next(datetime) <= end:
        count += 1
    return count


async def test_a_run_past_the_drain_bound_is_cancelled_and_recorded_as_failed(
    settings: Settings, db: PostgresEngine
) -> None:
    async def endless(context: CronContext) -> str:
        await asyncio.sleep(120)
        return "never"

    job = CronJob(name="test-endless", schedule="0 0 1 1 *", description="-", run=endless)
    await make_due(db, job.name, job.schedule)
    bounded = settings.model_copy(update={"worker_shutdown_grace_seconds": 0.5})
    stopping = asyncio.Event()
    worker = asyncio.create_task(
        schedule_until_stopped(bounded, stopping, redis=None, cron_jobs=[job])
    )

    async def running() -> bool:
        return [row["outcome"] for row in await runs_of(job.name)] == ["running"]

    try:
        await eventually(running, what="the run started")
    finally:
        stopping.set()
        stopped_at = time.monotonic()
        await asyncio.wait_for(worker, 20)
    assert time.monotonic() - stopped_at < 5
    [run] = await CronRun.select(CronRun.outcome, CronRun.error).where(CronRun.job == job.name)
    assert run["outcome"] == "failed"
    assert "cancelled" in run["error"]
    [row] = await db.run_ddl(
        f"SELECT status::text AS status FROM pgqueuer_schedules WHERE entrypoint = '{job.name}'"
    )
    assert row["status"] == "queued"  # released: the next due time runs it


async def test_the_scheduler_waits_out_a_postgres_outage_then_runs_what_is_due(
    settings: Settings, own_postgres: DevStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="umbrella.worker")
    database_url = str(own_postgres.endpoints.database_url)
    configured = settings.model_copy(
        update={"database_url": database_url, "db_connect_timeout_seconds": 1.0}
    )
    await migrate(configured)
    calls: list[datetime] = []

    async def batch(context: CronContext) -> str:
        calls.append(datetime.now(UTC))
        return "done"

    job = CronJob(name="test-yearly", schedule="0 0 1 1 *", description="-", run=batch)
    stopping = asyncio.Event()
    async with core_db.database(configured, application_name="umbrella-tests") as engine:
        await make_due(engine, job.name, job.schedule)
        await asyncio.to_thread(own_postgres.processes["postgres"].stop)
        worker = asyncio.create_task(
            schedule_until_stopped(configured, stopping, redis=None, cron_jobs=[job])
        )
        try:
            await asyncio.sleep(2.0)
            assert not worker.done(), "the scheduler gave up while Postgres was away"
            await asyncio.to_thread(own_postgres.restart, "postgres")
            await eventually(
                lambda: _succeeded(job.name), what="the due run after the outage", seconds=30
            )
        finally:
            stopping.set()
            await asyncio.wait_for(worker, 20)
    assert len(calls) == 1
    paused = [r for r in caplog.records if "scheduled cron runs paused" in r.getMessage()]
    resumed = [r for r in caplog.records if "the scheduler resumes" in r.getMessage()]
    assert (len(paused), len(resumed)) == (1, 1)
