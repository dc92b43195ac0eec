from piccolo.conf.apps import AppConfig

from umbrella.core.migrations import migrations_folder
from umbrella.ops.tables import CronRun

APP_CONFIG = AppConfig(
    app_name="ops",
    migrations_folder_path=migrations_folder("ops"),
    table_classes=[CronRun],
    migration_dependencies=[],
)
