from piccolo.conf.apps import AppConfig

from umbrella.accounts.tables import OAuthState, Session, User
from umbrella.core.migrations import migrations_folder

APP_CONFIG = AppConfig(
    app_name="accounts",
    migrations_folder_path=migrations_folder("accounts"),
    table_classes=[User, Session, OAuthState],
    migration_dependencies=["umbrella.ops.piccolo_app"],
)
