"""Reviews: invitations to review an artist, reviews of artists and reviews of venues."""

from piccolo.conf.apps import AppConfig

from umbrella.core.migrations import migrations_folder
from umbrella.reviews.tables import Review, ReviewInvitation, VenueReview

APP_CONFIG = AppConfig(
    app_name="reviews",
    # Empty so far: the artists and gigs migrations created these tables, and history does
    # not move; a new migration of them goes here, after those.
    migrations_folder_path=migrations_folder("reviews"),
    table_classes=[ReviewInvitation, Review, VenueReview],
    migration_dependencies=[
        "umbrella.accounts.piccolo_app",
        "umbrella.artists.piccolo_app",
        "umbrella.gigs.piccolo_app",
    ],
)
