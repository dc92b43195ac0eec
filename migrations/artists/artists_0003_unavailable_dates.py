"""Unavailable dates: the days and ranges an artist cannot play (docs/profiles.md)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-08T10:00:11:000000"
VERSION = "1.38.0"
DESCRIPTION = "artist_unavailability: an artist's unavailable days and ranges"

FORWARDS = [
    """
    CREATE TABLE artist_unavailability (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        artist_id uuid NOT NULL,
        -- both days included: a single day has starts_on = ends_on
        starts_on date NOT NULL,
        ends_on date NOT NULL,
        note varchar(200),
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT artist_unavailability_pkey PRIMARY KEY (id),
        CONSTRAINT artist_unavailability_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        CONSTRAINT artist_unavailability_range_check CHECK (ends_on >= starts_on),
        CONSTRAINT artist_unavailability_note_check CHECK (char_length(btrim(note)) >= 1)
    )
    """,
    # Listed by end date (upcoming first, then start, then id: the keyset order), and every
    # check asks "does one of this artist's entries end on or after this day": one index
    # serves both and the foreign key.
    """
    CREATE INDEX artist_unavailability_artist_id_ends_on_idx
        ON artist_unavailability (artist_id, ends_on, id)
    """,
]

BACKWARDS = [
    "DROP TABLE artist_unavailability",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="artists",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
