"""Violet's prompt log becomes the reservation that enforces D-062 in Postgres."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-02T14:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "violet_usage.status, violet_usage.model"

FORWARDS = [
    # D-062: a row is written (reserved) before the model is called and counts at once, so
    # the limit holds in Postgres whatever Redis says; rows logged so far were answered.
    """
    ALTER TABLE violet_usage ADD COLUMN status varchar(16) NOT NULL DEFAULT 'succeeded',
        ADD CONSTRAINT violet_usage_status_check CHECK (status IN ('reserved', 'succeeded'))
    """,
    "ALTER TABLE violet_usage ALTER COLUMN status SET DEFAULT 'reserved'",
    # The model that answered: the setting may change, the log should not lie.
    "ALTER TABLE violet_usage ADD COLUMN model varchar(100)",
]

BACKWARDS = [
    "ALTER TABLE violet_usage DROP COLUMN model",
    "ALTER TABLE violet_usage DROP COLUMN status",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="violet",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
