"""Venue reviews: after a completed gig, each booked artist may rate the venue once (D-034)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-01T10:00:03:000000"
VERSION = "1.38.0"
DESCRIPTION = "venue_reviews"

FORWARDS = [
    """
    CREATE TABLE venue_reviews (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        -- a review outlives its gig; account deletion removes the author's reviews itself (D-102)
        gig_id uuid,
        venue_user_id uuid NOT NULL,
        reviewer_artist_id uuid,
        rating smallint NOT NULL,
        comment text,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT venue_reviews_pkey PRIMARY KEY (id),
        CONSTRAINT venue_reviews_gig_id_reviewer_artist_id_key UNIQUE (gig_id, reviewer_artist_id),
        CONSTRAINT venue_reviews_gig_id_fkey FOREIGN KEY (gig_id)
            REFERENCES gigs (id) ON DELETE SET NULL,
        CONSTRAINT venue_reviews_venue_user_id_fkey FOREIGN KEY (venue_user_id)
            REFERENCES users (id) ON DELETE CASCADE,
        CONSTRAINT venue_reviews_reviewer_artist_id_fkey FOREIGN KEY (reviewer_artist_id)
            REFERENCES artists (id) ON DELETE SET NULL,
        CONSTRAINT venue_reviews_rating_check CHECK (rating BETWEEN 1 AND 5),
        CONSTRAINT venue_reviews_comment_length_check CHECK (char_length(comment) <= 2000)
    )
    """,
    "CREATE INDEX venue_reviews_venue_user_id_created_at_idx ON venue_reviews (venue_user_id, created_at DESC)",
    "CREATE INDEX venue_reviews_reviewer_artist_id_idx ON venue_reviews (reviewer_artist_id)",
]

BACKWARDS = [
    "DROP TABLE venue_reviews",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="gigs",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
