"""The session cache's epoch: raised when a revocation could not reach Redis, so every api
process stops trusting the Redis copies cached before it (docs/sign-in.md)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-07T16:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "session_cache_epoch sequence"

# A sequence, not a row: raising it takes no row lock and never waits on a transaction.
# Epoch 0 until the first nextval (is_called is false until then), then 1, 2, …
FORWARDS = ["CREATE SEQUENCE session_cache_epoch AS bigint"]

BACKWARDS = ["DROP SEQUENCE session_cache_epoch"]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="accounts",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
