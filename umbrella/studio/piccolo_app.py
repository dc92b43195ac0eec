"""Studio: the artist's journal and goals."""

from piccolo.conf.apps import AppConfig

from umbrella.core.migrations import migrations_folder
from umbrella.studio.tables import Goal, JournalEntry

APP_CONFIG = AppConfig(
    app_name="studio",
    migrations_folder_path=migrations_folder("studio"),
    table_classes=[JournalEntry, Goal],
    migration_dependencies=["umbrella.artists.piccolo_app"],
)
