"""Messaging: one conversation per pair of users, polled for new messages."""

from piccolo.conf.apps import AppConfig

from umbrella.core.migrations import migrations_folder
from umbrella.messaging.tables import Conversation, InboxVersion, Message

APP_CONFIG = AppConfig(
    app_name="messaging",
    migrations_folder_path=migrations_folder("messaging"),
    table_classes=[Conversation, Message, InboxVersion],
    migration_dependencies=["umbrella.accounts.piccolo_app"],
)
