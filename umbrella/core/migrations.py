"""Schema migrations: hand-written SQL in Piccolo migration files, run by `umbrella migrate`.

Why SQL rather than Piccolo's auto-migrations: the schema relies on named CHECK, UNIQUE and
FOREIGN KEY constraints, composite and partial indexes that Piccolo cannot express. Each
domain's `tables.py` mirrors the SQL, and `tests/migrations` fails when the two drift apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

import asyncpg
from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.commands.backwards import run_backwards
from piccolo.apps.migrations.commands.forwards import run_forwards

from umbrella.config import Settings
from umbrella.core import db

log = logging.getLogger(__name__)

# Serialises concurrent `umbrella migrate` runs (two Helm hook pods, a developer and CI).
MIGRATION_LOCK_KEY = zlib.crc32(b"umbrella.migrate")


def migrations_root() -> Path:
    """Where `migrations/<domain>/` lives: `UMBRELLA_MIGRATIONS_DIR`, the checkout, or the cwd."""
    configured = os.environ.get("UMBRELLA_MIGRATIONS_DIR")
    if configured:
        return Path(configured)
    checkout = Path(__file__).resolve().parents[2] / "migrations"
    return checkout if checkout.is_dir() else Path.cwd() / "migrations"


def migrations_folder(domain: str) -> str:
    """The folder of one domain's migrations, for its AppConfig."""
    return str(migrations_root() / domain)


def sql_migration(
    *,
    migration_id: str,
    app_name: str,
    description: str,
    forwards: Sequence[str],
    backwards: Sequence[str],
) -> MigrationManager:
    """A Piccolo migration that runs SQL statements in order, inside Piccolo's transaction."""
    manager = MigrationManager(
        migration_id=migration_id, app_name=app_name, description=description
    )

    async def run_forwards_sql() -> None:
        for statement in forwards:
            await db.engine().run_ddl(statement)

    async def run_backwards_sql() -> None:
        for statement in backwards:
            await db.engine().run_ddl(statement)

    manager.add_raw(run_forwards_sql)
    manager.add_raw_backwards(run_backwards_sql)
    return manager


class MigrationError(Exception):
    """A migration failed; the message says which and why."""


@dataclass(frozen=True)
class MigrationReport:
    applied: list[str]


# A migration that waited lock_timeout for its table is run again after these pauses (each
# migration is one transaction: a failed attempt left nothing behind), then reported.
LOCK_RETRY_PAUSES_SECONDS = (1.0, 2.0, 4.0)
# How often a run waiting for the migration lock tries it again.
_LOCK_POLL_SECONDS = 0.5
# A migration session idle inside its transaction (its process frozen, its network gone)
# would hold its table locks for ever: Postgres ends it after this long.
_IDLE_IN_TRANSACTION_MS = 10_000
# A killed migrate (the hook Job past its deadline) must not leave its DDL running:
# Postgres checks every second whether the client is still there and cancels if not.
_CLIENT_CHECK_INTERVAL_MS = 1_000


def migration_server_settings(settings: Settings) -> dict[str, str]:
    """Session settings of every migration connection: bounded lock waits, no orphans."""
    return {
        # DDL queues for its table lock, and every later query on the table queues behind
        # it: a long transaction holding the table would stall the api. Give up instead.
        "lock_timeout": str(settings.migrate_lock_timeout_ms),
        "idle_in_transaction_session_timeout": str(_IDLE_IN_TRANSACTION_MS),
        "client_connection_check_interval": str(_CLIENT_CHECK_INTERVAL_MS),
    }


async def _applied_migrations() -> set[str]:
    exists = await db.engine().run_ddl("SELECT to_regclass('migration') IS NOT NULL AS ok")
    if not exists[0]["ok"]:
        return set()
    rows = await db.engine().run_ddl("SELECT app_name, name FROM migration")
    return {f"{row['app_name']}/{row['name']}" for row in rows}


async def migrate(settings: Settings) -> MigrationReport:
    """Apply every pending migration of every domain; a second run applies nothing."""
    # statement_timeout bounds a rewrite of a big table (0: none), so a run killed at the
    # hook's deadline leaves nothing running in Postgres (migrations.activeDeadlineSeconds).
    db.configure_engine(
        settings,
        application_name="umbrella-migrate",
        statement_timeout_ms=settings.migrate_statement_timeout_ms,
        extra_server_settings=migration_server_settings(settings),
    )
    try:
        lock = await asyncpg.connect(
            db.database_address(settings),
            timeout=settings.db_connect_timeout_seconds,
            server_settings={"application_name": "umbrella-migrate"},
        )
    except asyncpg.PostgresError as error:  # reached, but refused: no such database, role
        raise MigrationError(f"postgres refused the connection: {_reason(error)}") from error
    try:
        await _take_migration_lock(lock, settings)
        before = await _applied_migrations()
        await _run_pending(settings)
        after = await _applied_migrations()
        return MigrationReport(applied=sorted(after - before))
    finally:
        await lock.close()  # the session ends, and the advisory lock with it


async def _take_migration_lock(connection: asyncpg.Connection, settings: Settings) -> None:
    """Take the lock that serialises runs; while another run holds it, say who, once, and try
    again until `migrate_lock_wait_seconds` have passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.migrate_lock_wait_seconds
    announced = False
    while not await connection.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATION_LOCK_KEY):
        holder = await _lock_holder(connection)
        message = f"another migration run holds the migration lock ({holder})"
        if loop.time() >= deadline:
            raise MigrationError(
                f"{message}; gave up after {settings.migrate_lock_wait_seconds:g} s "
                "(UMBRELLA_MIGRATE_LOCK_WAIT_SECONDS)"
            )
        if not announced:
            log.warning(f"{message}; waiting", extra={"holder": holder})
            announced = True
        await asyncio.sleep(min(_LOCK_POLL_SECONDS, max(0.0, deadline - loop.time())))


async def _lock_holder(connection: asyncpg.Connection) -> str:
    """Who holds the migration lock: pid, application_name and since when it is connected."""
    row = await connection.fetchrow(
        """
        SELECT a.pid, a.application_name, a.backend_start, a.client_addr::text AS client
        FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objsubid = 1
          AND l.objid = $1::bigint::oid
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """,
        MIGRATION_LOCK_KEY,
    )
    if row is None:  # released between the try and this look
        return "a run that has just finished"
    name = row["application_name"] or "no application_name"
    since = row["backend_start"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    where = f" from {row['client']}" if row["client"] else ""
    return f"pid {row['pid']}, {name}{where}, connected since {since}"


async def _run_pending(settings: Settings) -> None:
    """Run Piccolo's forwards for every app; a migration refused a lock is run again."""
    pauses = iter(LOCK_RETRY_PAUSES_SECONDS)
    while True:
        # Piccolo narrates with print(); keep stdout for our own one-line summary.
        narration = io.StringIO()
        try:
            with contextlib.redirect_stdout(narration):
                result = await run_forwards(app_name="all")
        except Exception as error:  # any failure is reported with its reason
            where = _current_migration(narration.getvalue())
            if not _lock_not_granted(error):
                raise MigrationError(f"migration {where} failed: {_reason(error)}") from error
            pause = next(pauses, None)
            if pause is None:
                raise MigrationError(
                    f"migration {where} failed: a lock it needs was not granted within "
                    f"{settings.migrate_lock_timeout_ms} ms (UMBRELLA_MIGRATE_LOCK_TIMEOUT_MS), "
                    f"{len(LOCK_RETRY_PAUSES_SECONDS) + 1} attempts; a long-running "
                    "transaction holds its table (see pg_stat_activity), try again later"
                ) from error
            log.warning(
                "a migration's lock was not granted: trying again",
                extra={"migration": where, "pause_seconds": pause},
            )
            await asyncio.sleep(pause)
            continue
        if not result.success:
            raise MigrationError(result.message or "migration failed")
        return


def _lock_not_granted(error: BaseException) -> bool:
    """Whether `error` (or one it was raised from) is Postgres' lock_not_available (55P03)."""
    current: BaseException | None = error
    while current is not None:
        if isinstance(current, asyncpg.exceptions.LockNotAvailableError):
            return True
        current = current.__cause__ or current.__context__
    return False


async def rollback_one(settings: Settings, *, app_name: str) -> None:
    """Reverse the newest applied migration of one domain (used by the stairway test)."""
    db.configure_engine(settings, application_name="umbrella-migrate")
    with contextlib.redirect_stdout(io.StringIO()):
        result = await run_backwards(app_name=app_name, migration_id="1", auto_agree=True)
    if not result.success:
        raise MigrationError(result.message or f"rollback of {app_name} failed")


async def forward_one(settings: Settings, *, app_name: str) -> None:
    """Apply the next pending migration of one domain (used by the stairway test)."""
    db.configure_engine(settings, application_name="umbrella-migrate")
    with contextlib.redirect_stdout(io.StringIO()):
        result = await run_forwards(app_name=app_name, migration_id="1")
    if not result.success:
        raise MigrationError(result.message or f"migration of {app_name} failed")


def _current_migration(narration: str) -> str:
    # Piccolo prints "  - <id> [forwards]... " right before running a migration.
    current = [line.strip() for line in narration.splitlines() if "[forwards]" in line]
    return current[-1].split(" [")[0].lstrip("- ") if current else "startup"


def _reason(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
