"""The file manager's lists: newest first by folder, by category and in all, one index each."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-02T12:00:02:000000"
VERSION = "1.38.0"
DESCRIPTION = "files list indexes: (artist, folder | category | all) newest first"

FORWARDS = [
    # GET /v1/files pages newest first (keyset on created_at, id) within one folder, the
    # top level (folder_id IS NULL is an index condition too), one category, or everything.
    """
    CREATE INDEX files_artist_id_folder_id_created_at_id_idx
        ON files (artist_id, folder_id, created_at DESC, id DESC)
    """,
    "CREATE INDEX files_artist_id_created_at_id_idx ON files (artist_id, created_at DESC, id DESC)",
    # Replaces (artist_id, category): the same lookups, plus the category list in order and
    # the usage sums per category from the index alone.
    "DROP INDEX files_artist_id_category_idx",
    """
    CREATE INDEX files_artist_id_category_created_at_id_idx
        ON files (artist_id, category, created_at DESC, id DESC) INCLUDE (size_bytes)
    """,
]

BACKWARDS = [
    "DROP INDEX files_artist_id_category_created_at_id_idx",
    "CREATE INDEX files_artist_id_category_idx ON files (artist_id, category)",
    "DROP INDEX files_artist_id_created_at_id_idx",
    "DROP INDEX files_artist_id_folder_id_created_at_id_idx",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="files",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
