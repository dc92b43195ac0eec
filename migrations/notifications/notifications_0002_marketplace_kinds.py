"""The marketplace's notifications: applications, reminders, declines and cancellations."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-02T10:00:04:000000"
VERSION = "1.38.0"
DESCRIPTION = "notifications.kind: application_confirmation, application_rejected, ..."

FORWARDS = [
    "ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check",
    """
    ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (
        kind IN ('welcome', 'message', 'review_invitation', 'application_confirmation',
                 'application_rejected', 'application_reminder', 'booking_confirmation',
                 'booking_declined', 'gig_cancelled', 'broadcast', 'other')
    )
    """,
]

BACKWARDS = [
    "ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check",
    """
    DELETE FROM notifications WHERE kind IN ('application_confirmation', 'application_rejected',
        'application_reminder', 'gig_cancelled')
    """,
    """
    ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (
        kind IN ('welcome', 'message', 'review_invitation', 'booking_confirmation',
                 'booking_declined', 'broadcast', 'other')
    )
    """,
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="notifications",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
