"""Search: the gig word list, and the indexes its queries need on artists and gigs."""

from piccolo.conf.apps import AppConfig

from umbrella.core.migrations import migrations_folder
from umbrella.search.tables import GigWord

APP_CONFIG = AppConfig(
    app_name="search",
    migrations_folder_path=migrations_folder("search"),
    table_classes=[GigWord],
    migration_dependencies=["umbrella.artists.piccolo_app", "umbrella.gigs.piccolo_app"],
)
