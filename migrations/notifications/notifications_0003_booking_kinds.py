"""Bookings' follow-through: the reminder before a gig, the prompt after it, gig alerts."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-08T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "notifications.kind: booking_reminder, gig_follow_up, gig_alerts"

FORWARDS = [
    "ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check",
    """
    ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (
        kind IN ('welcome', 'message', 'review_invitation', 'application_confirmation',
                 'application_rejected', 'application_reminder', 'booking_confirmation',
                 'booking_declined', 'gig_cancelled', 'booking_reminder', 'gig_follow_up',
                 'gig_alerts', 'broadcast', 'other')
    )
    """,
]

BACKWARDS = [
    "ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check",
    "DELETE FROM notifications WHERE kind IN ('booking_reminder', 'gig_follow_up', 'gig_alerts')",
    """
    ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (
        kind IN ('welcome', 'message', 'review_invitation', 'application_confirmation',
                 'application_rejected', 'application_reminder', 'booking_confirmation',
                 'booking_declined', 'gig_cancelled', 'broadcast', 'other')
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
