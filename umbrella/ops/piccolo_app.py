from piccolo.conf.apps import AppConfig

from umbrella.core.cron_runs import CronRun
from umbrella.core.migrations import migrations_folder

APP_CONFIG = AppConfig(
    app_name="ops",
    migrations_folder_path=migrations_folder("ops"),
    table_classes=[CronRun],
    migration_dependencies=[],
)
