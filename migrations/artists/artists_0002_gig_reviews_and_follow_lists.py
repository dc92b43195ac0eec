"""One review of an artist per gig (D-034); followers and following listed newest first."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-01T10:00:02:000000"
VERSION = "1.38.0"
DESCRIPTION = "reviews: unique (gig_id, artist_id); artist_followers: keyset indexes"

FORWARDS = [
    # Invitation reviews have no gig (NULLs are distinct), so only gig reviews are limited.
    "ALTER TABLE reviews ADD CONSTRAINT reviews_gig_id_artist_id_key UNIQUE (gig_id, artist_id)",
    # The unique index leads with gig_id, so it serves the foreign key: the old one is redundant.
    "DROP INDEX reviews_gig_id_idx",
    # Followers and following are listed newest first, a page at a time (keyset on both).
    "CREATE INDEX artist_followers_artist_id_created_at_idx ON artist_followers (artist_id, created_at DESC, id DESC)",
    "CREATE INDEX artist_followers_follower_user_id_created_at_idx ON artist_followers (follower_user_id, created_at DESC, id DESC)",
    # The one above leads with follower_user_id: it serves the foreign key too.
    "DROP INDEX artist_followers_follower_user_id_idx",
]

BACKWARDS = [
    "CREATE INDEX artist_followers_follower_user_id_idx ON artist_followers (follower_user_id)",
    "DROP INDEX artist_followers_follower_user_id_created_at_idx",
    "DROP INDEX artist_followers_artist_id_created_at_idx",
    "CREATE INDEX reviews_gig_id_idx ON reviews (gig_id)",
    "ALTER TABLE reviews DROP CONSTRAINT reviews_gig_id_artist_id_key",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="artists",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
