"""Journal entries and goals."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-11-22T10:00:07:000000"
VERSION = "1.38.0"
DESCRIPTION = "journal_entries and goals"

FORWARDS = [
    """
    CREATE TABLE journal_entries (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        artist_id uuid NOT NULL,
        title varchar(200) NOT NULL,
        -- an ordered list of blocks: text, image, audio, video
        blocks jsonb NOT NULL DEFAULT '[]',
        entry_type varchar(8) NOT NULL DEFAULT 'text',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT journal_entries_pkey PRIMARY KEY (id),
        CONSTRAINT journal_entries_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        CONSTRAINT journal_entries_blocks_check CHECK (jsonb_typeof(blocks) = 'array'),
        CONSTRAINT journal_entries_entry_type_check CHECK (entry_type IN ('text', 'video', 'mixed'))
    )
    """,
    "CREATE INDEX journal_entries_artist_id_created_at_id_idx ON journal_entries (artist_id, created_at DESC, id DESC)",
    """
    CREATE TABLE goals (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        artist_id uuid NOT NULL,
        title varchar(200) NOT NULL,
        description text,
        goal_type varchar(16) NOT NULL,
        target_value numeric(12,2) NOT NULL,
        current_value numeric(12,2) NOT NULL DEFAULT 0,
        target_date date,
        completed boolean NOT NULL DEFAULT false,
        completed_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT goals_pkey PRIMARY KEY (id),
        CONSTRAINT goals_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        CONSTRAINT goals_title_check CHECK (char_length(btrim(title)) >= 1),
        CONSTRAINT goals_goal_type_check CHECK (
            goal_type IN ('earnings', 'gigs', 'followers', 'tracks', 'custom')
        ),
        CONSTRAINT goals_target_value_check CHECK (target_value >= 0),
        CONSTRAINT goals_current_value_check CHECK (current_value >= 0),
        CONSTRAINT goals_completed_at_check CHECK (completed = (completed_at IS NOT NULL))
    )
    """,
    "CREATE INDEX goals_artist_id_completed_idx ON goals (artist_id, completed)",
]

BACKWARDS = ["DROP TABLE goals", "DROP TABLE journal_entries"]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="studio",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
