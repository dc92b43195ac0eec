"""Violet usage log."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-11-22T10:00:09:000000"
VERSION = "1.38.0"
DESCRIPTION = "violet_usage"

FORWARDS = [
    """
    CREATE TABLE violet_usage (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        -- holds prompt text: personal, so it goes with the artist
        artist_id uuid NOT NULL,
        -- D-062: the UTC day the prompt counts against
        usage_date date NOT NULL DEFAULT ((now() AT TIME ZONE 'UTC')::date),
        feature varchar(32) NOT NULL,
        prompt text NOT NULL,
        prompt_tokens integer,
        response_tokens integer,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT violet_usage_pkey PRIMARY KEY (id),
        CONSTRAINT violet_usage_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        CONSTRAINT violet_usage_prompt_tokens_check CHECK (prompt_tokens >= 0),
        CONSTRAINT violet_usage_response_tokens_check CHECK (response_tokens >= 0)
    )
    """,
    # D-062: counting today's prompts is the fallback when Redis is down
    "CREATE INDEX violet_usage_artist_id_usage_date_idx ON violet_usage (artist_id, usage_date)",
]

BACKWARDS = ["DROP TABLE violet_usage"]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="violet",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
