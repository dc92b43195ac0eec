"""When a user chose their role: "artist" is also the default, so the choice needs a trace."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-01T22:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "users.role_chosen_at"

# No backfill: a finished onboarding or an artist profile already says the role was chosen.
FORWARDS = ["ALTER TABLE users ADD COLUMN role_chosen_at timestamptz"]

BACKWARDS = ["ALTER TABLE users DROP COLUMN role_chosen_at"]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="accounts",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
