"""Alerts: an artist's saved gig filters and the daily digest of new gigs matching them."""

from piccolo.conf.apps import AppConfig

from umbrella.alerts.tables import GigAlert, GigAlertDigest, GigAlertSend
from umbrella.core.migrations import migrations_folder

APP_CONFIG = AppConfig(
    app_name="alerts",
    migrations_folder_path=migrations_folder("alerts"),
    table_classes=[GigAlert, GigAlertDigest, GigAlertSend],
    migration_dependencies=["umbrella.artists.piccolo_app", "umbrella.gigs.piccolo_app"],
)
