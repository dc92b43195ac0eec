"""Portfolio: an artist's tracks."""

from piccolo.conf.apps import AppConfig

from umbrella.core.migrations import migrations_folder
from umbrella.portfolio.tables import Track

APP_CONFIG = AppConfig(
    app_name="portfolio",
    # Empty so far: the artists migrations created this table, and history does not move.
    migrations_folder_path=migrations_folder("portfolio"),
    table_classes=[Track],
    migration_dependencies=["umbrella.artists.piccolo_app"],
)
