"""Calendar feeds: one revocable subscription link per user, its token stored hashed."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-02T10:00:06:000000"
VERSION = "1.38.0"
DESCRIPTION = "calendar_feeds"

FORWARDS = [
    """
    CREATE TABLE calendar_feeds (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL,
        -- SHA-256 of the token in the feed URL; the token itself is shown once, never stored
        token_hash varchar(64) NOT NULL,
        -- when the current link was made: a rotation starts it again
        created_at timestamptz NOT NULL DEFAULT now(),
        -- written at most once an hour, however often calendars poll
        last_used_at timestamptz,
        CONSTRAINT calendar_feeds_pkey PRIMARY KEY (id),
        CONSTRAINT calendar_feeds_user_id_key UNIQUE (user_id),
        CONSTRAINT calendar_feeds_token_hash_key UNIQUE (token_hash),
        CONSTRAINT calendar_feeds_user_id_fkey FOREIGN KEY (user_id)
            REFERENCES users (id) ON DELETE CASCADE,
        CONSTRAINT calendar_feeds_token_hash_check CHECK (token_hash ~ '^[0-9a-f]{64}$')
    )
    """,
]

BACKWARDS = [
    "DROP TABLE calendar_feeds",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="calendar",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
