"""Contacts: the indexes behind member pages, opt-in counts, STOP and bounce look-ups."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-02T13:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "contact_list_members and broadcast_deliveries indexes for contacts and webhooks"

FORWARDS = [
    # A list's members, newest first, paged by (created_at, id).
    """
    CREATE INDEX contact_list_members_list_id_created_at_id_idx
        ON contact_list_members (list_id, created_at DESC, id DESC)
    """,
    # STOP and bounces find every artist that has the address on a list.
    "CREATE INDEX contact_list_members_phone_idx ON contact_list_members (phone)",
    "CREATE INDEX contact_list_members_email_idx ON contact_list_members (email)",
    # ... and every artist that already sent to it (a re-import must not undo a STOP).
    """
    CREATE INDEX broadcast_deliveries_channel_address_idx
        ON broadcast_deliveries (channel, address)
    """,
    # A Resend event names the email by its id: the delivery that carried it.
    """
    CREATE INDEX broadcast_deliveries_provider_message_id_idx
        ON broadcast_deliveries (provider_message_id) WHERE provider_message_id IS NOT NULL
    """,
]

BACKWARDS = [
    "DROP INDEX broadcast_deliveries_provider_message_id_idx",
    "DROP INDEX broadcast_deliveries_channel_address_idx",
    "DROP INDEX contact_list_members_email_idx",
    "DROP INDEX contact_list_members_phone_idx",
    "DROP INDEX contact_list_members_list_id_created_at_id_idx",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="fans",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
