"""Notifications: every email and SMS the platform sends, with its delivery outcome."""

from piccolo.conf.apps import AppConfig

from umbrella.core.migrations import migrations_folder
from umbrella.notifications.tables import Notification

APP_CONFIG = AppConfig(
    app_name="notifications",
    migrations_folder_path=migrations_folder("notifications"),
    table_classes=[Notification],
    migration_dependencies=["umbrella.accounts.piccolo_app"],
)
