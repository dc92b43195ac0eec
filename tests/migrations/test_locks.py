"""`umbrella migrate` never blocks a rollout: it waits a bounded time for another run, and its
DDL gives up on a busy table (lock_timeout) instead of queueing every request behind it."""

from __future__ import annotations

import asyncio
import logging
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import REPO_ROOT, Completed, Servers, make_settings, start_umbrella
from tests.conftest import subprocess_env as umbrella_env
from umbrella.core.migrations import MIGRATION_LOCK_KEY, migrate

PROBE_ID = "2099-01-01T00:00:00:000000"
# One more migration of the ops domain, after the real ones: it alters a table the test holds.
PROBE_MIGRATION = f'''
from umbrella.core.migrations import sql_migration

ID = "{PROBE_ID}"
VERSION = "1.38.0"
DESCRIPTION = "probe"
FORWARDS = ["ALTER TABLE cron_runs ADD COLUMN probe text"]
BACKWARDS = ["ALTER TABLE cron_runs DROP COLUMN probe"]


async def forwards():
    return sql_migration(
        migration_id=ID, app_name="ops", description=DESCRIPTION,
        forwards=FORWARDS, backwards=BACKWARDS,
    )
'''


@pytest.fixture
async def holder(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """Another session on the test's (migrated) database, named like a second hook pod."""
    connection = await asyncpg.connect(
        database_url, server_settings={"application_name": "umbrella-migrate-other-pod"}
    )
    yield connection
    await connection.close()


async def test_a_run_waits_for_the_lock_names_its_holder_once_and_migrates_once_released(
    servers: Servers,
    database_url: str,
    holder: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="umbrella.core.migrations")
    await holder.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    settings = make_settings(servers, database_url=database_url, migrate_lock_wait_seconds=60)

    run = asyncio.create_task(migrate(settings))
    await asyncio.sleep(2)
    assert not run.done(), "the run must wait while another one holds the lock"
    waiting = [r.getMessage() for r in caplog.records if "holds the migration lock" in r.message]
    assert len(waiting) == 1, "said once, not on every try"
    assert f"pid {holder.get_server_pid()}, umbrella-migrate-other-pod" in waiting[0]
    assert "connected since" in waiting[0]

    await holder.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    report = await asyncio.wait_for(run, 30)
    assert report.applied == []  # the template was migrated already: the run went through


async def test_a_run_gives_up_after_the_lock_wait_and_says_who_holds_it(
    servers: Servers, database_url: str, holder: asyncpg.Connection
) -> None:
    await holder.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    settings = make_settings(servers, database_url=database_url, migrate_lock_wait_seconds=1)
    env = umbrella_env(settings)

    completed = await _run_migrate(env)

    assert completed.code == 1, completed
    assert completed.stderr.startswith(
        "umbrella migrate: another migration run holds the migration lock (pid "
    )
    assert f"pid {holder.get_server_pid()}, umbrella-migrate-other-pod" in completed.stderr
    assert "gave up after 1 s (UMBRELLA_MIGRATE_LOCK_WAIT_SECONDS)" in completed.stderr
    # the lock is still the holder's: the failed run took nothing
    assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATION_LOCK_KEY)


async def test_ddl_on_a_busy_table_gives_up_after_lock_timeout_and_requests_go_on(
    servers: Servers, database_url: str, holder: asyncpg.Connection, tmp_path: Path
) -> None:
    env = _env_with_probe_migration(servers, database_url, tmp_path)
    # A long transaction (a report, a stuck request) has read the table the migration alters.
    busy = holder.transaction()
    await busy.start()
    await holder.fetch("SELECT * FROM cron_runs")
    reader = await asyncpg.connect(database_url)
    try:
        run = asyncio.create_task(_run_migrate(env, timeout=120))
        await _until_migration_waits_for_a_lock(database_url, run)
        # A request on the table now queues behind the ALTER: it must be let through when
        # the ALTER gives up after lock_timeout, not when the long transaction ends.
        rows = await asyncio.wait_for(reader.fetchval("SELECT count(*) FROM cron_runs"), 10)
        assert rows == 0
        completed = await run
    finally:
        await reader.close()
        await busy.rollback()

    assert completed.code == 1, completed
    assert (
        f"umbrella migrate: migration {PROBE_ID} failed: a lock it needs was not granted "
        "within 300 ms (UMBRELLA_MIGRATE_LOCK_TIMEOUT_MS), 4 attempts" in completed.stderr
    )
    assert "trying again" in completed.stdout  # each retry is logged
    assert not await _probe_column_exists(holder)
    assert not await _probe_recorded(holder)


async def test_a_migration_refused_a_lock_is_retried_and_applies_once_the_table_is_free(
    servers: Servers, database_url: str, holder: asyncpg.Connection, tmp_path: Path
) -> None:
    env = _env_with_probe_migration(servers, database_url, tmp_path)
    busy = holder.transaction()
    await busy.start()
    await holder.fetch("SELECT * FROM cron_runs")
    run = asyncio.create_task(_run_migrate(env, timeout=120))
    try:
        await _until_migration_waits_for_a_lock(database_url, run)
    finally:
        await busy.rollback()  # the long transaction ends during the retries

    completed = await run
    assert completed.code == 0, completed
    assert f"ops/{PROBE_ID}" in completed.stdout
    assert await _probe_column_exists(holder)
    assert await _probe_recorded(holder)


async def test_every_migration_session_has_bounded_locks_statements_and_idle_time(
    servers: Servers, database_url: str
) -> None:
    settings = make_settings(
        servers,
        database_url=database_url,
        migrate_lock_timeout_ms=1234,
        migrate_statement_timeout_ms=56789,
    )
    await migrate(settings)  # points the engine at the migration settings
    from umbrella.core import db

    rows = await db.engine().run_ddl(
        "SELECT current_setting('lock_timeout') AS lock_timeout,"
        " current_setting('statement_timeout') AS statement_timeout,"
        " current_setting('idle_in_transaction_session_timeout') AS idle,"
        " current_setting('client_connection_check_interval') AS client_check,"
        " current_setting('application_name') AS name"
    )
    assert dict(rows[0]) == {
        "lock_timeout": "1234ms",
        "statement_timeout": "56789ms",
        "idle": "10s",
        "client_check": "1s",
        "name": "umbrella-migrate",
    }


async def test_a_statement_past_the_migration_statement_timeout_fails_the_run(
    servers: Servers, database_url: str, tmp_path: Path
) -> None:
    migrations = _migrations_copy(tmp_path)
    (migrations / "ops" / "ops_9999_probe.py").write_text(
        PROBE_MIGRATION.replace("ALTER TABLE cron_runs ADD COLUMN probe text", "SELECT pg_sleep(5)")
    )
    settings = make_settings(servers, database_url=database_url, migrate_statement_timeout_ms=300)
    env = umbrella_env(settings, UMBRELLA_MIGRATIONS_DIR=str(migrations))
    completed = await _run_migrate(env)
    assert completed.code == 1, completed
    assert f"migration {PROBE_ID} failed: QueryCanceledError" in completed.stderr
    assert "statement timeout" in completed.stderr


async def test_a_killed_run_leaves_nothing_running_or_locked(
    servers: Servers, database_url: str, holder: asyncpg.Connection, tmp_path: Path
) -> None:
    # The hook Job killed at its deadline mid-migration: Postgres must not go on with it.
    migrations = _migrations_copy(tmp_path)
    (migrations / "ops" / "ops_9999_probe.py").write_text(
        PROBE_MIGRATION.replace(
            '"ALTER TABLE cron_runs ADD COLUMN probe text"',
            '"LOCK TABLE cron_runs", "SELECT pg_sleep(60)"',
        )
    )
    settings = make_settings(servers, database_url=database_url)
    env = umbrella_env(settings, UMBRELLA_MIGRATIONS_DIR=str(migrations))
    process = await start_umbrella("migrate", env=env, stderr=asyncio.subprocess.PIPE)
    try:
        for _ in range(300):
            assert process.returncode is None
            if await _migration_sessions(holder, query="SELECT pg_sleep(60)"):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the probe migration never ran")
    finally:
        if process.returncode is None:
            process.kill()
        _, stderr = await process.communicate()
    assert process.returncode == -9, stderr.decode()

    for _ in range(100):
        if not await _migration_sessions(holder):
            break
        await asyncio.sleep(0.1)
    assert await _migration_sessions(holder) == 0, "a migration session outlived its process"
    # its table lock and the run lock went with it
    assert await holder.fetchval("SELECT count(*) FROM cron_runs") == 0
    assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATION_LOCK_KEY)


async def _migration_sessions(connection: asyncpg.Connection, *, query: str = "%") -> int:
    count: int = await connection.fetchval(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE application_name = 'umbrella-migrate' AND query LIKE $1",
        query,
    )
    return count


async def test_a_database_that_refuses_the_run_is_one_line_and_exit_1(servers: Servers) -> None:
    missing = servers.database_url(f"missing_{uuid.uuid4().hex[:8]}")
    completed = await _run_migrate(umbrella_env(make_settings(servers, database_url=missing)))
    assert completed.code == 1, completed
    assert completed.stderr.startswith(
        "umbrella migrate: postgres refused the connection: InvalidCatalogNameError: database"
    )
    assert "Traceback" not in completed.stderr


def _migrations_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "migrations"
    shutil.copytree(REPO_ROOT / "migrations", copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _env_with_probe_migration(
    servers: Servers, database_url: str, tmp_path: Path
) -> dict[str, str]:
    migrations = _migrations_copy(tmp_path)
    (migrations / "ops" / "ops_9999_probe.py").write_text(PROBE_MIGRATION)
    settings = make_settings(servers, database_url=database_url, migrate_lock_timeout_ms=300)
    return umbrella_env(settings, UMBRELLA_MIGRATIONS_DIR=str(migrations))


async def _run_migrate(env: dict[str, str], *, timeout: float = 60) -> Completed:
    process = await start_umbrella("migrate", env=env, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return Completed(process.returncode, stdout.decode(), stderr.decode())


async def _until_migration_waits_for_a_lock(
    database_url: str, run: asyncio.Task[Completed]
) -> None:
    """Return once a migration session is queued for a lock (Postgres' own view of it)."""
    watcher = await asyncpg.connect(database_url)
    try:
        for _ in range(300):
            assert not run.done(), run.result()
            waiting = await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'umbrella-migrate'"
                " AND wait_event_type = 'Lock' AND query LIKE 'ALTER TABLE cron_runs%'"
            )
            if waiting:
                return
            await asyncio.sleep(0.05)
    finally:
        await watcher.close()
    raise AssertionError("the migration never waited for its table")


async def _probe_column_exists(connection: asyncpg.Connection) -> bool:
    found: bool = await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns"
        " WHERE table_name = 'cron_runs' AND column_name = 'probe')"
    )
    return found


async def _probe_recorded(connection: asyncpg.Connection) -> bool:
    found: bool = await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM migration WHERE app_name = 'ops' AND name = $1)", PROBE_ID
    )
    return found
