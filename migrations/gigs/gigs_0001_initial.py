"""Gigs, applications and favorites; links reviews to gigs."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-11-22T10:00:03:000000"
VERSION = "1.38.0"
DESCRIPTION = "gigs, gig_applications, gig_favorites, reviews.gig_id foreign key"

FORWARDS = [
    """
    CREATE TABLE gigs (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        venue_id uuid NOT NULL,
        title varchar(200) NOT NULL,
        description text,
        venue_name varchar(200) NOT NULL,
        city varchar(100) NOT NULL,
        state varchar(100) NOT NULL,
        address varchar(300),
        zip varchar(10),
        date date NOT NULL,
        start_time time,
        end_time time,
        genre varchar(50),
        payment_amount numeric(12,2),
        payment_type varchar(16) NOT NULL DEFAULT 'flat',
        capacity integer NOT NULL DEFAULT 1,
        filled_slots integer NOT NULL DEFAULT 0,
        -- D-010: kept current by the hourly cron
        urgency_flag boolean NOT NULL DEFAULT false,
        status varchar(16) NOT NULL DEFAULT 'open',
        -- D-014: a fixed random rank per gig, so a shuffled scroll can page with a cursor
        shuffle_key integer NOT NULL DEFAULT (floor(random() * 2147483647))::integer,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        completed_at timestamptz,
        cancelled_at timestamptz,
        CONSTRAINT gigs_pkey PRIMARY KEY (id),
        CONSTRAINT gigs_venue_id_fkey FOREIGN KEY (venue_id)
            REFERENCES users (id) ON DELETE CASCADE,
        CONSTRAINT gigs_title_check CHECK (char_length(btrim(title)) >= 1),
        CONSTRAINT gigs_payment_amount_check CHECK (payment_amount >= 0),
        CONSTRAINT gigs_payment_type_check CHECK (payment_type IN ('flat', 'hourly', 'negotiable')),
        CONSTRAINT gigs_payment_check CHECK (
            payment_type = 'negotiable' OR payment_amount IS NOT NULL
        ),
        CONSTRAINT gigs_capacity_check CHECK (capacity >= 1),
        -- no over-booking, whatever the concurrency of accepts
        CONSTRAINT gigs_filled_slots_check CHECK (filled_slots BETWEEN 0 AND capacity),
        CONSTRAINT gigs_status_check CHECK (
            status IN ('open', 'filled', 'cancelled', 'completed')
        ),
        -- a gig is filled exactly when it is full
        CONSTRAINT gigs_open_check CHECK (status <> 'open' OR filled_slots < capacity),
        CONSTRAINT gigs_filled_check CHECK (status <> 'filled' OR filled_slots = capacity),
        CONSTRAINT gigs_completed_at_check CHECK ((status = 'completed') = (completed_at IS NOT NULL)),
        CONSTRAINT gigs_cancelled_at_check CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
    )
    """,
    "CREATE INDEX gigs_venue_id_date_idx ON gigs (venue_id, date DESC)",
    # §3.3 marketplace filters: date range, city/state, genre, payment range, urgency, status.
    "CREATE INDEX gigs_date_idx ON gigs (date)",
    "CREATE INDEX gigs_city_state_idx ON gigs (city, state)",
    "CREATE INDEX gigs_genre_idx ON gigs (genre)",
    "CREATE INDEX gigs_payment_amount_idx ON gigs (payment_amount)",
    "CREATE INDEX gigs_urgency_flag_idx ON gigs (urgency_flag)",
    "CREATE INDEX gigs_status_shuffle_key_id_idx ON gigs (status, shuffle_key, id)",
    """
    CREATE TABLE gig_applications (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        gig_id uuid NOT NULL,
        artist_id uuid NOT NULL,
        status varchar(16) NOT NULL DEFAULT 'pending',
        message text,
        applied_at timestamptz NOT NULL DEFAULT now(),
        viewed_at timestamptz,
        responded_at timestamptz,
        -- D-080: earnings are reported by the parties once the gig is completed
        earned_amount numeric(12,2),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT gig_applications_pkey PRIMARY KEY (id),
        -- D-077: one application per artist per gig
        CONSTRAINT gig_applications_gig_id_artist_id_key UNIQUE (gig_id, artist_id),
        CONSTRAINT gig_applications_gig_id_fkey FOREIGN KEY (gig_id)
            REFERENCES gigs (id) ON DELETE CASCADE,
        CONSTRAINT gig_applications_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        CONSTRAINT gig_applications_status_check CHECK (
            status IN ('pending', 'accepted', 'rejected')
        ),
        CONSTRAINT gig_applications_responded_at_check CHECK (
            (status = 'pending') = (responded_at IS NULL)
        ),
        CONSTRAINT gig_applications_earned_amount_check CHECK (earned_amount >= 0),
        CONSTRAINT gig_applications_earned_status_check CHECK (
            earned_amount IS NULL OR status = 'accepted'
        )
    )
    """,
    "CREATE INDEX gig_applications_artist_id_applied_at_idx ON gig_applications (artist_id, applied_at DESC)",
    """
    CREATE TABLE gig_favorites (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        gig_id uuid NOT NULL,
        artist_id uuid NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT gig_favorites_pkey PRIMARY KEY (id),
        CONSTRAINT gig_favorites_gig_id_artist_id_key UNIQUE (gig_id, artist_id),
        CONSTRAINT gig_favorites_gig_id_fkey FOREIGN KEY (gig_id)
            REFERENCES gigs (id) ON DELETE CASCADE,
        CONSTRAINT gig_favorites_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX gig_favorites_artist_id_created_at_idx ON gig_favorites (artist_id, created_at DESC)",
    # reviews is created by the artists app, which gigs depend on.
    """
    ALTER TABLE reviews ADD CONSTRAINT reviews_gig_id_fkey FOREIGN KEY (gig_id)
        REFERENCES gigs (id) ON DELETE SET NULL
    """,
]

BACKWARDS = [
    "ALTER TABLE reviews DROP CONSTRAINT reviews_gig_id_fkey",
    "DROP TABLE gig_favorites",
    "DROP TABLE gig_applications",
    "DROP TABLE gigs",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="gigs",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
