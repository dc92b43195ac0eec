"""Artists: profiles, followers, portfolio tracks, reviews and career timeline."""

from piccolo.conf.apps import AppConfig

from umbrella.artists.tables import (
    Artist,
    ArtistFollower,
    Review,
    ReviewInvitation,
    TimelineEntry,
    Track,
)
from umbrella.core.migrations import migrations_folder

APP_CONFIG = AppConfig(
    app_name="artists",
    migrations_folder_path=migrations_folder("artists"),
    table_classes=[Artist, ArtistFollower, Track, ReviewInvitation, Review, TimelineEntry],
    migration_dependencies=["umbrella.accounts.piccolo_app"],
)
