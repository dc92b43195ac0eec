"""Storage: the per-artist storage quota and the uploads not confirmed yet."""

from piccolo.conf.apps import AppConfig

from umbrella.core.migrations import migrations_folder
from umbrella.storage.tables import PendingUpload, StorageQuota

APP_CONFIG = AppConfig(
    app_name="storage",
    # Empty so far: the files migrations created these tables, and history does not move.
    migrations_folder_path=migrations_folder("storage"),
    table_classes=[StorageQuota, PendingUpload],
    migration_dependencies=["umbrella.files.piccolo_app"],
)
