"""Broadcasts: fan messages by email and SMS, and one delivery row per recipient.

The fans app's migrations created and shaped these tables (migrations/fans/) and stay there,
recorded as applied under `fans`, so an existing database has nothing to re-run; this app's
own migrations, in migrations/broadcasts/, start with the next change to them.
"""

from piccolo.conf.apps import AppConfig

from umbrella.broadcasts.tables import BroadcastDelivery, BroadcastList, BroadcastMessage
from umbrella.core.migrations import migrations_folder

APP_CONFIG = AppConfig(
    app_name="broadcasts",
    migrations_folder_path=migrations_folder("broadcasts"),
    table_classes=[BroadcastMessage, BroadcastList, BroadcastDelivery],
    # after fans: its migrations created these tables and the lists they point at
    migration_dependencies=["umbrella.fans.piccolo_app"],
)
