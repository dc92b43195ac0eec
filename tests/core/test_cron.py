"""`umbrella cron <job>`: runs one job, records it, and says clearly when it cannot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from piccolo.engine.postgres import PostgresEngine

from tests.conftest import run_umbrella, subprocess_env
from tests.factories import make_user
from umbrella.accounts.tables import Session
from umbrella.config import Settings
from umbrella.core.cron import all_cron_jobs
from umbrella.core.cron_runs import CronRun
from umbrella.ops.service import delete_old_queue_log


async def test_unknown_job_exits_2_listing_the_known_ones(settings: Settings) -> None:
    result = await run_umbrella("cron", "no-such-job", env=subprocess_env(settings))
    assert result.code == 2
    assert "unknown job 'no-such-job'" in result.stderr
    for name in all_cron_jobs():
        assert name in result.stderr


async def test_list_shows_every_job_with_its_schedule_and_where_it_runs(
    settings: Settings,
) -> None:
    result = await run_umbrella("cron", "--list", env=subprocess_env(settings))
    assert result.code == 0
    listed = {
        name: (schedule, runs_in)
        for name, schedule, runs_in, _ in (line.split("\t") for line in result.stdout.splitlines())
    }
    assert listed["broadcasts-scheduled"] == ("* * * * *", "worker")
    assert listed["queue-log-prune"] == ("40 2 * * *", "cronjob")
    assert listed == {
        job.name: (job.schedule, "worker" if job.in_worker else "cronjob")
        for job in all_cron_jobs().values()
    }


async def test_queue_log_prune_deletes_old_rows_in_batches_and_keeps_held_jobs_errors(
    settings: Settings, db: PostgresEngine
) -> None:
    held_job = await db.run_ddl(
        "INSERT INTO pgqueuer (priority, entrypoint, status, payload)"
        " VALUES (0, 'send_notification', 'failed', NULL) RETURNING id"
    )
    held_id = held_job[0]["id"]
    await db.run_ddl(
        f"""
        INSERT INTO pgqueuer_log (created, job_id, status, priority, entrypoint, aggregated)
        SELECT now() - interval '8 days', 100000 + n, 'successful'::pgqueuer_status, 0,
               'purge_session_cache', true
          FROM generate_series(1, 25) AS n
        UNION ALL
        SELECT now() - interval '6 days', 200000 + n, 'successful'::pgqueuer_status, 0,
               'purge_session_cache', true
          FROM generate_series(1, 3) AS n
        UNION ALL
        SELECT now() - interval '30 days', {held_id}, 'failed'::pgqueuer_status, 0,
               'send_notification', true
        """
    )
    result = await prune(batch_rows=10)
    assert result == 25  # three batches: 10, 10, 5
    rows = await db.run_ddl("SELECT job_id FROM pgqueuer_log ORDER BY job_id")
    assert sorted(row["job_id"] for row in rows) == sorted([held_id, 200001, 200002, 200003])

    run = await run_umbrella("cron", "queue-log-prune", env=subprocess_env(settings))
    assert run.code == 0, run.stderr
    assert "queue-log-prune: deleted 0 queue log rows older than 7 days" in run.stdout.splitlines()
    [recorded] = await CronRun.select(CronRun.outcome).where(CronRun.job == "queue-log-prune")
    assert recorded["outcome"] == "succeeded"


async def prune(*, batch_rows: int) -> int:
    return await delete_old_queue_log(older_than=timedelta(days=7), batch_rows=batch_rows)


async def test_sessions_cleanup_runs_and_is_recorded(
    settings: Settings, db: PostgresEngine
) -> None:
    user_id = await make_user()
    now = datetime.now(UTC)
    long_ago = now - timedelta(days=30)
    for token_hash, created, expires in (
        ("a" * 64, long_ago, long_ago + timedelta(days=7)),  # expired three weeks ago
        ("b" * 64, now, now + timedelta(days=7)),  # live
    ):
        await Session.insert(
            Session(token_hash=token_hash, user_id=user_id, created_at=created, expires_at=expires)
        )
    result = await run_umbrella("cron", "sessions-cleanup", env=subprocess_env(settings))
    assert result.code == 0, result.stderr
    assert "deleted 1 old sessions" in result.stdout
    remaining = await Session.select(Session.token_hash)
    assert [row["token_hash"] for row in remaining] == ["b" * 64]
    runs = await CronRun.select().where(CronRun.job == "sessions-cleanup")
    assert len(runs) == 1
    assert runs[0]["outcome"] == "succeeded"
    assert runs[0]["finished_at"] >= runs[0]["started_at"]


async def test_a_failing_job_exits_1_and_records_the_error(
    settings: Settings, db: PostgresEngine
) -> None:
    await db.run_ddl("ALTER TABLE sessions RENAME TO sessions_elsewhere")
    result = await run_umbrella("cron", "sessions-cleanup", env=subprocess_env(settings))
    assert result.code == 1
    assert "failed" in result.stderr
    runs = await CronRun.select().where(CronRun.job == "sessions-cleanup")
    assert runs[0]["outcome"] == "failed"
    assert "sessions" in runs[0]["error"]
    assert runs[0]["finished_at"] is not None
