"""Artists: profiles, career timeline and unavailable dates."""

from piccolo.conf.apps import AppConfig

from umbrella.artists.tables import Artist, TimelineEntry, Unavailability
from umbrella.core.migrations import migrations_folder

APP_CONFIG = AppConfig(
    app_name="artists",
    # Its migrations also created the tables of follows, portfolio and reviews, which own
    # them now: history does not move.
    migrations_folder_path=migrations_folder("artists"),
    table_classes=[Artist, TimelineEntry, Unavailability],
    migration_dependencies=["umbrella.accounts.piccolo_app"],
)
