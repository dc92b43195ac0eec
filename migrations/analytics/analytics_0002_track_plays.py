"""Track plays per artist per UTC day, kept by a trigger on tracks.play_count."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-02T14:00:03:000000"
VERSION = "1.38.0"
DESCRIPTION = "track_play_counts, fed by a trigger on tracks.play_count"

FORWARDS = [
    """
    CREATE TABLE track_play_counts (
        artist_id uuid NOT NULL,
        date date NOT NULL,
        plays bigint NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT track_play_counts_pkey PRIMARY KEY (artist_id, date),
        CONSTRAINT track_play_counts_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        CONSTRAINT track_play_counts_plays_check CHECK (plays >= 0)
    )
    """,
    "CREATE INDEX track_play_counts_date_idx ON track_play_counts (date)",
    # D-008 needs plays per day, but tracks only hold a running total. The trigger books
    # each increase on the UTC day it happens, in the play's own transaction, so the daily
    # batch can recompute any past day exactly (docs/analytics.md).
    """
    CREATE FUNCTION track_play_counts_book() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO track_play_counts AS t (artist_id, date, plays)
        VALUES (NEW.artist_id, (now() AT TIME ZONE 'UTC')::date,
                NEW.play_count - OLD.play_count)
        ON CONFLICT (artist_id, date)
        DO UPDATE SET plays = t.plays + EXCLUDED.plays, updated_at = now();
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER tracks_play_count_booked AFTER UPDATE OF play_count ON tracks
        FOR EACH ROW WHEN (NEW.play_count > OLD.play_count)
        EXECUTE FUNCTION track_play_counts_book()
    """,
]

BACKWARDS = [
    "DROP TRIGGER tracks_play_count_booked ON tracks",
    "DROP FUNCTION track_play_counts_book()",
    "DROP TABLE track_play_counts",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="analytics",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
