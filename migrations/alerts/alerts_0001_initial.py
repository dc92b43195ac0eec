"""Gig alerts: an artist's saved browse filters, the daily digest's state, the gigs already sent."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-08T10:00:21:000000"
VERSION = "1.38.0"
DESCRIPTION = "gig_alerts, gig_alert_digests and gig_alert_sends"

FORWARDS = [
    """
    CREATE TABLE gig_alerts (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        artist_id uuid NOT NULL,
        name varchar(100) NOT NULL,
        -- gig browse's filters (genres, city, state, dates, pay, urgent) as the API takes them
        filters jsonb NOT NULL DEFAULT '{}',
        text_urgent boolean NOT NULL DEFAULT false,
        active boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT gig_alerts_pkey PRIMARY KEY (id),
        CONSTRAINT gig_alerts_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        CONSTRAINT gig_alerts_name_check CHECK (char_length(btrim(name)) >= 1),
        CONSTRAINT gig_alerts_filters_check CHECK (jsonb_typeof(filters) = 'object')
    )
    """,
    "CREATE INDEX gig_alerts_artist_id_created_at_id_idx"
    " ON gig_alerts (artist_id, created_at DESC, id DESC)",
    # The digest finds the artists with an active alert; few of all artists have one.
    "CREATE INDEX gig_alerts_active_artist_id_idx ON gig_alerts (artist_id) WHERE active",
    """
    CREATE TABLE gig_alert_digests (
        artist_id uuid NOT NULL,
        -- the UTC day of the artist's last digest (sent or found empty), and the moment up
        -- to which it looked at new gigs: the next digest starts there
        last_day date NOT NULL,
        last_cutoff timestamptz NOT NULL,
        CONSTRAINT gig_alert_digests_pkey PRIMARY KEY (artist_id),
        CONSTRAINT gig_alert_digests_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE
    )
    """,
    """
    CREATE TABLE gig_alert_sends (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        artist_id uuid NOT NULL,
        gig_id uuid NOT NULL,
        sent_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT gig_alert_sends_pkey PRIMARY KEY (id),
        CONSTRAINT gig_alert_sends_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        CONSTRAINT gig_alert_sends_gig_id_fkey FOREIGN KEY (gig_id)
            REFERENCES gigs (id) ON DELETE CASCADE,
        -- never the same gig twice to the same artist
        CONSTRAINT gig_alert_sends_artist_id_gig_id_key UNIQUE (artist_id, gig_id)
    )
    """,
    "CREATE INDEX gig_alert_sends_gig_id_idx ON gig_alert_sends (gig_id)",
]

BACKWARDS = ["DROP TABLE gig_alert_sends", "DROP TABLE gig_alert_digests", "DROP TABLE gig_alerts"]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="alerts",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
