"""Gigs: the marketplace of venue opportunities, applications and favorites."""

from piccolo.conf.apps import AppConfig

from umbrella.core.migrations import migrations_folder
from umbrella.gigs.tables import (
    Gig,
    GigApplication,
    GigFavorite,
    GigShuffle,
    VenueReview,
    VenueStats,
)

APP_CONFIG = AppConfig(
    app_name="gigs",
    migrations_folder_path=migrations_folder("gigs"),
    table_classes=[Gig, GigApplication, GigFavorite, GigShuffle, VenueReview, VenueStats],
    migration_dependencies=["umbrella.accounts.piccolo_app", "umbrella.artists.piccolo_app"],
)
