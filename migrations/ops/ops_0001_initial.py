"""Cron run records and the pgqueuer job queue schema."""

from pgqueuer import Queries
from pgqueuer.db import AsyncpgDriver
from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core import db

ID = "2026-11-22T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "cron_runs and the job queue"

FORWARDS = [
    """
    CREATE TABLE cron_runs (
        id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
        job varchar(64) NOT NULL,
        started_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz,
        outcome varchar(16) NOT NULL DEFAULT 'running',
        error text,
        CONSTRAINT cron_runs_outcome_check CHECK (outcome IN ('running', 'succeeded', 'failed')),
        CONSTRAINT cron_runs_finished_check CHECK (
            (outcome = 'running') = (finished_at IS NULL)
        )
    )
    """,
    "CREATE INDEX cron_runs_job_started_idx ON cron_runs (job, started_at DESC)",
]

BACKWARDS = ["DROP TABLE cron_runs"]


def _queries() -> Queries:
    # Piccolo runs each migration inside a transaction; install on that same connection.
    transaction = db.engine().current_transaction.get()
    if transaction is None:
        raise RuntimeError("the job queue schema must be installed inside a migration")
    return Queries(AsyncpgDriver(transaction.connection))


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="ops", description=DESCRIPTION)

    async def up() -> None:
        for statement in FORWARDS:
            await db.engine().run_ddl(statement)
        await _queries().install()

    async def down() -> None:
        await _queries().uninstall()
        for statement in BACKWARDS:
            await db.engine().run_ddl(statement)

    manager.add_raw(up)
    manager.add_raw_backwards(down)
    return manager
