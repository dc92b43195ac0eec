"""An index for the outbox backlog gauge: deliveries not yet sent, by channel."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-02T15:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "broadcast_deliveries index of unsent rows by channel"

FORWARDS = [
    # The worker samples the email and SMS backlog every 15 s; sent rows pile up forever,
    # unsent ones are few, so the index holds only those.
    "CREATE INDEX broadcast_deliveries_channel_not_before_idx"
    " ON broadcast_deliveries (channel, not_before) WHERE status IN ('pending', 'sending')",
]

BACKWARDS = [
    "DROP INDEX broadcast_deliveries_channel_not_before_idx",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="fans",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
