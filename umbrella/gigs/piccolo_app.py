"""Gigs: the marketplace of venue opportunities, applications and favorites."""

from piccolo.conf.apps import AppConfig

from umbrella.core.migrations import migrations_folder
from umbrella.gigs.tables import (
    BookingTerms,
    Gig,
    GigApplication,
    GigFavorite,
    GigShuffle,
    VenueStats,
)

APP_CONFIG = AppConfig(
    app_name="gigs",
    # Its migrations also created venue_reviews, which the reviews domain owns now: history
    # does not move.
    migrations_folder_path=migrations_folder("gigs"),
    table_classes=[Gig, GigApplication, BookingTerms, GigFavorite, GigShuffle, VenueStats],
    migration_dependencies=["umbrella.accounts.piccolo_app", "umbrella.artists.piccolo_app"],
)
