"""The notification log: queued, sent and failed emails and SMS."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-11-22T10:00:10:000000"
VERSION = "1.38.0"
DESCRIPTION = "notifications"

FORWARDS = [
    """
    CREATE TABLE notifications (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        -- NULL for someone who is not a user yet (a review invitation to any email, D-032)
        user_id uuid,
        kind varchar(32) NOT NULL,
        channel varchar(8) NOT NULL,
        recipient varchar(320) NOT NULL,
        -- what the template needs, so an operator can re-queue a failed notification
        payload jsonb NOT NULL DEFAULT '{}',
        status varchar(16) NOT NULL DEFAULT 'queued',
        attempts integer NOT NULL DEFAULT 0,
        last_error text,
        provider_message_id varchar(255),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        sent_at timestamptz,
        CONSTRAINT notifications_pkey PRIMARY KEY (id),
        CONSTRAINT notifications_user_id_fkey FOREIGN KEY (user_id)
            REFERENCES users (id) ON DELETE CASCADE,
        CONSTRAINT notifications_kind_check CHECK (
            kind IN ('welcome', 'message', 'review_invitation', 'booking_confirmation',
                     'booking_declined', 'broadcast', 'other')
        ),
        CONSTRAINT notifications_channel_check CHECK (channel IN ('email', 'sms')),
        CONSTRAINT notifications_payload_check CHECK (jsonb_typeof(payload) = 'object'),
        CONSTRAINT notifications_status_check CHECK (status IN ('queued', 'sent', 'failed')),
        CONSTRAINT notifications_attempts_check CHECK (attempts >= 0),
        CONSTRAINT notifications_sent_at_check CHECK ((status = 'sent') = (sent_at IS NOT NULL))
    )
    """,
    # the retry cron picks queued and failed notifications, oldest first
    "CREATE INDEX notifications_status_created_at_idx ON notifications (status, created_at)",
    "CREATE INDEX notifications_user_id_idx ON notifications (user_id)",
]

BACKWARDS = ["DROP TABLE notifications"]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="notifications",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
