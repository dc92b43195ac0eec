"""The agreed deal on record: each booking's terms, and what was sent before and after it."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-08T10:00:04:000000"
VERSION = "1.38.0"
DESCRIPTION = "booking_terms: the terms of each booking as agreed at accept, with send markers"

# The columns copied from the gig, as `bookings.record_terms` copies them at accept.
_FROM_GIG = """
    SELECT a.id, g.id, a.artist_id, g.venue_id, g.title, g.description, g.genre, g.venue_name,
           g.address, g.city, g.state, g.zip, g.date, g.start_time, g.end_time,
           (g.payment_amount * 100)::bigint, 'USD', g.payment_type,
           coalesce(a.responded_at, a.updated_at)
"""

FORWARDS = [
    # Issue 25: a venue's later edit of the gig never changes what the artist agreed to.
    # The term columns are written once; `reminder_sent_at` and `follow_up_sent_at` mark
    # the reminder (24 hours before) and the follow-up (the morning after), set in the
    # transaction that queues them, so each goes out once however often the cron runs.
    # Pay is in integer minor units of `currency` (gigs only know dollars so far).
    """
    CREATE TABLE booking_terms (
        application_id uuid NOT NULL,
        gig_id uuid NOT NULL,
        artist_id uuid NOT NULL,
        venue_id uuid NOT NULL,
        title varchar(200) NOT NULL,
        description text,
        genre varchar(50),
        venue_name varchar(200) NOT NULL,
        address varchar(300),
        city varchar(100) NOT NULL,
        state varchar(100) NOT NULL,
        zip varchar(10),
        date date NOT NULL,
        start_time time,
        end_time time,
        pay_minor bigint,
        currency varchar(3) NOT NULL DEFAULT 'USD',
        payment_type varchar(16) NOT NULL,
        agreed_at timestamptz NOT NULL DEFAULT now(),
        reminder_sent_at timestamptz,
        follow_up_sent_at timestamptz,
        CONSTRAINT booking_terms_pkey PRIMARY KEY (application_id),
        CONSTRAINT booking_terms_application_id_fkey FOREIGN KEY (application_id)
            REFERENCES gig_applications (id) ON DELETE CASCADE,
        CONSTRAINT booking_terms_gig_id_fkey FOREIGN KEY (gig_id)
            REFERENCES gigs (id) ON DELETE CASCADE,
        CONSTRAINT booking_terms_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        CONSTRAINT booking_terms_venue_id_fkey FOREIGN KEY (venue_id)
            REFERENCES users (id) ON DELETE CASCADE,
        CONSTRAINT booking_terms_pay_minor_check CHECK (pay_minor >= 0),
        CONSTRAINT booking_terms_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
        CONSTRAINT booking_terms_payment_type_check
            CHECK (payment_type IN ('flat', 'hourly', 'negotiable'))
    )
    """,
    # The export and account deletion find an artist's and a venue's bookings by these.
    "CREATE INDEX booking_terms_artist_id_idx ON booking_terms (artist_id)",
    "CREATE INDEX booking_terms_venue_id_idx ON booking_terms (venue_id)",
    "CREATE INDEX booking_terms_gig_id_idx ON booking_terms (gig_id)",
    # The hourly cron reads only the bookings still owed a reminder or a follow-up.
    "CREATE INDEX booking_terms_unreminded_date_idx ON booking_terms (date)"
    " WHERE reminder_sent_at IS NULL",
    "CREATE INDEX booking_terms_unfollowed_date_idx ON booking_terms (date)"
    " WHERE follow_up_sent_at IS NULL",
    # Existing bookings get their terms from their gig as it stands now (the best record
    # there is). Their reminders and follow-ups are taken as sent when the gig is already
    # over, so the first cron run does not prompt about gigs played long ago.
    f"""
    INSERT INTO booking_terms (application_id, gig_id, artist_id, venue_id, title, description,
        genre, venue_name, address, city, state, zip, date, start_time, end_time, pay_minor,
        currency, payment_type, agreed_at)
    {_FROM_GIG}
    FROM gig_applications a JOIN gigs g ON g.id = a.gig_id
    WHERE a.status = 'accepted'
    ON CONFLICT DO NOTHING
    """,
    """
    UPDATE booking_terms SET reminder_sent_at = now(), follow_up_sent_at = now()
    WHERE date < (now() AT TIME ZONE 'UTC')::date
    """,
]

BACKWARDS = ["DROP TABLE booking_terms"]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="gigs",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
