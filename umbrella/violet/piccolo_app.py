"""Violet: the AI assistant's prompt log, which also backs the daily limit (D-062)."""

from piccolo.conf.apps import AppConfig

from umbrella.core.migrations import migrations_folder
from umbrella.violet.tables import VioletUsage

APP_CONFIG = AppConfig(
    app_name="violet",
    migrations_folder_path=migrations_folder("violet"),
    table_classes=[VioletUsage],
    migration_dependencies=["umbrella.artists.piccolo_app"],
)
