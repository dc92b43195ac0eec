"""Files: an artist's folders and file metadata."""

from piccolo.conf.apps import AppConfig

from umbrella.core.migrations import migrations_folder
from umbrella.files.tables import File, Folder

APP_CONFIG = AppConfig(
    app_name="files",
    migrations_folder_path=migrations_folder("files"),
    table_classes=[Folder, File],
    migration_dependencies=[
        "umbrella.accounts.piccolo_app",
        "umbrella.artists.piccolo_app",
        # files_0001 created pending_uploads (now storage's table), which names conversations.
        "umbrella.messaging.piccolo_app",
    ],
)
