"""Sealed uploads: a pending upload names the key it will be copied to once confirmed."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-07T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "pending_uploads: target_key (where the confirmed copy goes) and sealed_size"

FORWARDS = [
    "ALTER TABLE pending_uploads ADD COLUMN target_key varchar(1024)",
    # An upload signed before this change was signed for its final key: it keeps that key
    # as its target, and a confirm refuses it as expired (its form lives 15 minutes).
    "UPDATE pending_uploads SET target_key = s3_key",
    "ALTER TABLE pending_uploads ALTER COLUMN target_key SET NOT NULL",
    """
    ALTER TABLE pending_uploads
        ADD CONSTRAINT pending_uploads_target_key_key UNIQUE (target_key)
    """,
    "ALTER TABLE pending_uploads ADD COLUMN sealed_size bigint",
    """
    ALTER TABLE pending_uploads
        ADD CONSTRAINT pending_uploads_sealed_size_check
        CHECK (sealed_size IS NULL OR sealed_size BETWEEN 0 AND declared_size)
    """,
]

BACKWARDS = [
    "ALTER TABLE pending_uploads DROP COLUMN sealed_size",
    "ALTER TABLE pending_uploads DROP COLUMN target_key",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="files",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
