"""Fans: contact lists, their members with proof of consent, and suppressions."""

from piccolo.conf.apps import AppConfig

from umbrella.core.migrations import migrations_folder
from umbrella.fans.tables import ContactList, ContactListMember, FanSuppression

APP_CONFIG = AppConfig(
    app_name="fans",
    migrations_folder_path=migrations_folder("fans"),
    table_classes=[ContactList, ContactListMember, FanSuppression],
    migration_dependencies=["umbrella.artists.piccolo_app"],
)
