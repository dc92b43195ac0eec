"""Schema migrations: hand-written SQL in Piccolo migration files, run by `umbrella migrate`.

Why SQL rather than Piccolo's auto-migrations: the schema relies on named CHECK, UNIQUE and
FOREIGN KEY constraints, composite and partial indexes that Piccolo cannot express. Each
domain's `tables.py` mirrors the SQL, and `tests/migrations` fails when the two drift apart.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.commands.backwards import run_backwards
from piccolo.apps.migrations.commands.forwards import run_forwards

from umbrella.config import Settings
from umbrella.core import db

log = logging.getLogger(__name__)

# Serialises concurrent `umbrella migrate` runs (two Helm hook pods, a developer and CI).
_LOCK_KEY = zlib.crc32(b"umbrella.migrate")


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


async def _applied_migrations() -> set[str]:
    exists = await db.engine().run_ddl("SELECT to_regclass('migration') IS NOT NULL AS ok")
    if not exists[0]["ok"]:
        return set()
    rows = await db.engine().run_ddl("SELECT app_name, name FROM migration")
    return {f"{row['app_name']}/{row['name']}" for row in rows}


async def migrate(settings: Settings) -> MigrationReport:
    """Apply every pending migration of every domain; a second run applies nothing."""
    # No statement timeout: rewriting a big table (an added stored column) must finish;
    # the chart's hook bounds the whole run (migrations.activeDeadlineSeconds).
    db.configure_engine(settings, application_name="umbrella-migrate", statement_timeout_ms=0)
    lock = await asyncpg.connect(settings.database_url, timeout=settings.db_connect_timeout_seconds)
    try:
        await lock.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        before = await _applied_migrations()
        # Piccolo narrates with print(); keep stdout for our own one-line summary.
        narration = io.StringIO()
        try:
            with contextlib.redirect_stdout(narration):
                result = await run_forwards(app_name="all")
        except Exception as error:  # any failure is reported with its reason
            raise MigrationError(_describe_failure(narration.getvalue(), error)) from error
        if not result.success:
            raise MigrationError(result.message or "migration failed")
        after = await _applied_migrations()
        return MigrationReport(applied=sorted(after - before))
    finally:
        await lock.close()


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


def _describe_failure(narration: str, error: BaseException) -> str:
    # Piccolo prints "  - <id> [forwards]... " right before running a migration.
    current = [line.strip() for line in narration.splitlines() if "[forwards]" in line]
    where = current[-1].split(" [")[0].lstrip("- ") if current else "startup"
    return f"migration {where} failed: {type(error).__name__}: {error}"
