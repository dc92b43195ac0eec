"""Analytics: the daily per-artist metrics batch (D-008) and profile view counts."""

from piccolo.conf.apps import AppConfig

from umbrella.analytics.tables import DailyMetric, ProfileViewCount, TrackPlayCount
from umbrella.core.migrations import migrations_folder

APP_CONFIG = AppConfig(
    app_name="analytics",
    migrations_folder_path=migrations_folder("analytics"),
    table_classes=[DailyMetric, ProfileViewCount, TrackPlayCount],
    migration_dependencies=["umbrella.artists.piccolo_app"],
)
