"""Daily metrics and profile view counts."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-11-22T10:00:08:000000"
VERSION = "1.38.0"
DESCRIPTION = "daily_metrics and profile_view_counts"

FORWARDS = [
    """
    CREATE TABLE daily_metrics (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        artist_id uuid NOT NULL,
        date date NOT NULL,
        earnings numeric(12,2) NOT NULL DEFAULT 0,
        gigs_completed integer NOT NULL DEFAULT 0,
        profile_views integer NOT NULL DEFAULT 0,
        followers integer NOT NULL DEFAULT 0,
        avg_rating numeric(3,2),
        track_plays bigint NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT daily_metrics_pkey PRIMARY KEY (id),
        -- D-008: one row per artist per day, so a re-run of the batch upserts
        CONSTRAINT daily_metrics_artist_id_date_key UNIQUE (artist_id, date),
        -- personal history: it goes with the artist
        CONSTRAINT daily_metrics_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        CONSTRAINT daily_metrics_earnings_check CHECK (earnings >= 0),
        CONSTRAINT daily_metrics_gigs_completed_check CHECK (gigs_completed >= 0),
        CONSTRAINT daily_metrics_profile_views_check CHECK (profile_views >= 0),
        CONSTRAINT daily_metrics_followers_check CHECK (followers >= 0),
        CONSTRAINT daily_metrics_avg_rating_check CHECK (avg_rating BETWEEN 0 AND 5),
        CONSTRAINT daily_metrics_track_plays_check CHECK (track_plays >= 0)
    )
    """,
    "CREATE INDEX daily_metrics_date_idx ON daily_metrics (date)",
    """
    CREATE TABLE profile_view_counts (
        artist_id uuid NOT NULL,
        date date NOT NULL,
        -- counted in Redis, flushed here
        views integer NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT profile_view_counts_pkey PRIMARY KEY (artist_id, date),
        CONSTRAINT profile_view_counts_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        CONSTRAINT profile_view_counts_views_check CHECK (views >= 0)
    )
    """,
    "CREATE INDEX profile_view_counts_date_idx ON profile_view_counts (date)",
]

BACKWARDS = ["DROP TABLE profile_view_counts", "DROP TABLE daily_metrics"]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="analytics",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
