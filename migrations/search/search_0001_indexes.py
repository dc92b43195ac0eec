"""Search indexes (D-071): weighted full-text documents, trigrams for typos, newest-first lists.

Expression indexes, not stored columns: the expressions below are spelled exactly as in
umbrella/search/service.py (ARTIST_DOCUMENT, GIG_DOCUMENT, ...), or the planner cannot use
them; tests/search checks with EXPLAIN that it does.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-02T10:00:05:000000"
VERSION = "1.38.0"
DESCRIPTION = "search indexes"

FORWARDS = [
    # Trusted since Postgres 13: the database owner may create it.
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """
    CREATE INDEX artists_search_document_idx ON artists USING gin ((
        setweight(to_tsvector('english', stage_name), 'A')
        || setweight(to_tsvector('english', coalesce(tagline, '')), 'B')
        || setweight(to_tsvector('english', coalesce(bio, '')), 'C')
    ))
    """,
    "CREATE INDEX artists_stage_name_trgm_idx ON artists USING gin (lower(stage_name) gin_trgm_ops)",
    # GET /v1/artists: newest first, a page at a time
    "CREATE INDEX artists_created_at_id_idx ON artists (created_at DESC, id DESC)",
    # Only open gigs are ever searched: partial indexes stay small as gigs pass.
    """
    CREATE INDEX gigs_search_document_idx ON gigs USING gin ((
        setweight(to_tsvector('english', title), 'A')
        || setweight(to_tsvector('english', venue_name), 'B')
        || setweight(to_tsvector('english', coalesce(description, '')), 'C')
    )) WHERE status = 'open'
    """,
    "CREATE INDEX gigs_title_trgm_idx ON gigs USING gin (lower(title) gin_trgm_ops) WHERE status = 'open'",
]

BACKWARDS = [
    "DROP INDEX gigs_title_trgm_idx",
    "DROP INDEX gigs_search_document_idx",
    "DROP INDEX artists_created_at_id_idx",
    "DROP INDEX artists_stage_name_trgm_idx",
    "DROP INDEX artists_search_document_idx",
    "DROP EXTENSION IF EXISTS pg_trgm",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="search",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
