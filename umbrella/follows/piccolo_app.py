"""Follows: users following artists."""

from piccolo.conf.apps import AppConfig

from umbrella.core.migrations import migrations_folder
from umbrella.follows.tables import ArtistFollower

APP_CONFIG = AppConfig(
    app_name="follows",
    # Empty so far: the artists migrations created this table, and history does not move.
    migrations_folder_path=migrations_folder("follows"),
    table_classes=[ArtistFollower],
    migration_dependencies=["umbrella.accounts.piccolo_app", "umbrella.artists.piccolo_app"],
)
