"""Goals: a target is more than zero, and an artist's goals are listed newest first."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-02T14:00:02:000000"
VERSION = "1.38.0"
DESCRIPTION = "goals: target_value > 0, index for the newest-first list"

FORWARDS = [
    # A zero target is reached the day it is set. No endpoint wrote goals before this
    # migration, so no row can hold one.
    """
    ALTER TABLE goals DROP CONSTRAINT goals_target_value_check,
        ADD CONSTRAINT goals_target_value_check CHECK (target_value > 0)
    """,
    # GET /v1/analytics/goals pages by (created_at, id) newest first, optionally filtered on
    # completed: this index serves both and the artist_id foreign key.
    "DROP INDEX goals_artist_id_completed_idx",
    "CREATE INDEX goals_artist_id_created_at_id_idx ON goals (artist_id, created_at DESC, id DESC)",
]

BACKWARDS = [
    "DROP INDEX goals_artist_id_created_at_id_idx",
    "CREATE INDEX goals_artist_id_completed_idx ON goals (artist_id, completed)",
    """
    ALTER TABLE goals DROP CONSTRAINT goals_target_value_check,
        ADD CONSTRAINT goals_target_value_check CHECK (target_value >= 0)
    """,
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="studio",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
