"""Files: folders, file metadata, the per-artist storage quota and pending uploads."""

from piccolo.conf.apps import AppConfig

from umbrella.core.migrations import migrations_folder
from umbrella.files.tables import File, Folder, PendingUpload, StorageQuota

APP_CONFIG = AppConfig(
    app_name="files",
    migrations_folder_path=migrations_folder("files"),
    table_classes=[Folder, File, StorageQuota, PendingUpload],
    migration_dependencies=[
        "umbrella.accounts.piccolo_app",
        "umbrella.artists.piccolo_app",
        "umbrella.messaging.piccolo_app",
    ],
)
