"""The marketplace at scale: a daily reshuffle that keeps open scrolls stable, reminders, indexes."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-02T10:00:03:000000"
VERSION = "1.38.0"
DESCRIPTION = "gig_shuffles, gigs.previous_shuffle_key, gig_applications.reminded_at, indexes"

FORWARDS = [
    # D-014: the daily reshuffle moves each open gig's key here, so a scroll that began
    # before it still pages through the order it started with.
    """
    ALTER TABLE gigs ADD COLUMN previous_shuffle_key integer NOT NULL
        DEFAULT (floor(random() * 2147483647))::integer
    """,
    """
    CREATE TABLE gig_shuffles (
        id smallint NOT NULL DEFAULT 1,
        epoch integer NOT NULL DEFAULT 0,
        refreshed_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT gig_shuffles_pkey PRIMARY KEY (id),
        CONSTRAINT gig_shuffles_single_row_check CHECK (id = 1)
    )
    """,
    "INSERT INTO gig_shuffles (id, epoch) VALUES (1, 0)",
    "ALTER TABLE gig_applications ADD COLUMN reminded_at timestamptz",
    # Browsing walks the open gigs in shuffle order and stops after one page. The filter
    # columns ride along, so the walk is an index-only scan: at a million gigs, even a
    # filter nothing matches reads only this index (docs/marketplace.md has the numbers).
    "DROP INDEX gigs_status_shuffle_key_id_idx",
    """
    CREATE INDEX gigs_open_shuffle_key_id_idx ON gigs (shuffle_key, id)
        INCLUDE (date, genre, city, state, payment_amount, urgency_flag) WHERE status = 'open'
    """,
    """
    CREATE INDEX gigs_open_previous_shuffle_key_id_idx ON gigs (previous_shuffle_key, id)
        INCLUDE (date, genre, city, state, payment_amount, urgency_flag) WHERE status = 'open'
    """,
    # The venue card (ours) sums up a venue's gigs from this index alone.
    "DROP INDEX gigs_venue_id_date_idx",
    """
    CREATE INDEX gigs_venue_id_date_idx ON gigs (venue_id, date DESC)
        INCLUDE (status, payment_type, payment_amount)
    """,
    # The hourly urgency job (D-010) reads only open gigs by date and the flagged ones.
    "DROP INDEX gigs_urgency_flag_idx",
    "CREATE INDEX gigs_open_date_idx ON gigs (date) WHERE status = 'open'",
    "CREATE INDEX gigs_urgent_date_idx ON gigs (date) WHERE urgency_flag",
    # A venue's applications per gig, and the reminder job's overdue pending applications.
    """
    CREATE INDEX gig_applications_gig_id_status_applied_at_idx
        ON gig_applications (gig_id, status, applied_at, id)
    """,
    """
    CREATE INDEX gig_applications_unreminded_applied_at_idx ON gig_applications (applied_at)
        WHERE status = 'pending' AND reminded_at IS NULL
    """,
]

BACKWARDS = [
    "DROP INDEX gig_applications_unreminded_applied_at_idx",
    "DROP INDEX gig_applications_gig_id_status_applied_at_idx",
    "DROP INDEX gigs_urgent_date_idx",
    "DROP INDEX gigs_open_date_idx",
    "CREATE INDEX gigs_urgency_flag_idx ON gigs (urgency_flag)",
    "DROP INDEX gigs_venue_id_date_idx",
    "CREATE INDEX gigs_venue_id_date_idx ON gigs (venue_id, date DESC)",
    "DROP INDEX gigs_open_previous_shuffle_key_id_idx",
    "DROP INDEX gigs_open_shuffle_key_id_idx",
    "CREATE INDEX gigs_status_shuffle_key_id_idx ON gigs (status, shuffle_key, id)",
    "ALTER TABLE gig_applications DROP COLUMN reminded_at",
    "DROP TABLE gig_shuffles",
    "ALTER TABLE gigs DROP COLUMN previous_shuffle_key",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="gigs",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
