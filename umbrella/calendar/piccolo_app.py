"""Calendar: the per-user feed links of the iCalendar subscription."""

from piccolo.conf.apps import AppConfig

from umbrella.calendar.tables import CalendarFeed
from umbrella.core.migrations import migrations_folder

APP_CONFIG = AppConfig(
    app_name="calendar",
    migrations_folder_path=migrations_folder("calendar"),
    table_classes=[CalendarFeed],
    migration_dependencies=["umbrella.accounts.piccolo_app", "umbrella.gigs.piccolo_app"],
)
