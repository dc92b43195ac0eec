"""An index for the Violet usage gauges: today's prompts of every artist."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-02T15:00:02:000000"
VERSION = "1.38.0"
DESCRIPTION = "violet_usage index by usage_date"

FORWARDS = [
    # The worker samples today's usage across artists every 15 s; the log keeps every day.
    "CREATE INDEX violet_usage_usage_date_idx ON violet_usage (usage_date)",
]

BACKWARDS = [
    "DROP INDEX violet_usage_usage_date_idx",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="violet",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
