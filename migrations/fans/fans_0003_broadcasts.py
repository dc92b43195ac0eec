"""The broadcast delivery engine: claims with a lease, batch keys, deferrals, artist time zones."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-02T13:00:02:000000"
VERSION = "1.38.0"
DESCRIPTION = (
    "broadcast_deliveries.not_before/claimed_at/batch_key, broadcast_messages.from_name/"
    "cancelled_at, artists.timezone"
)

FORWARDS = [
    # SMS quiet hours and retry backoff: a pending delivery is not sent before this time.
    "ALTER TABLE broadcast_deliveries ADD COLUMN not_before timestamptz",
    # When a worker claimed the row (pending -> sending); a claim older than the lease
    # belongs to a dead worker and is taken over (docs/broadcasts.md).
    "ALTER TABLE broadcast_deliveries ADD COLUMN claimed_at timestamptz",
    # The Resend Idempotency-Key of the email batch the row was claimed in: a re-sent
    # batch carries the same key, so Resend sends it once.
    "ALTER TABLE broadcast_deliveries ADD COLUMN batch_key varchar(64)",
    "CREATE INDEX broadcast_deliveries_batch_key_idx ON broadcast_deliveries (batch_key)"
    " WHERE status = 'sending'",
    # The name a broadcast is signed with, fixed when it is created: a rename mid-send must
    # not change a re-sent batch (Resend refuses a known key with another payload).
    "ALTER TABLE broadcast_messages ADD COLUMN from_name varchar(100)",
    "ALTER TABLE broadcast_messages ADD COLUMN cancelled_at timestamptz",
    """
    ALTER TABLE broadcast_messages ADD CONSTRAINT broadcast_messages_cancelled_at_check
        CHECK (status <> 'cancelled' OR cancelled_at IS NOT NULL)
    """,
    # The cron's sweep for broadcasts being sent (to resume one whose job was lost).
    "CREATE INDEX broadcast_messages_sending_idx ON broadcast_messages (started_at)"
    " WHERE status = 'sending'",
    # SMS quiet hours fall back to the artist's zone when a contact's is unknown (IANA name).
    "ALTER TABLE artists ADD COLUMN timezone varchar(64)",
]

BACKWARDS = [
    "ALTER TABLE artists DROP COLUMN timezone",
    "DROP INDEX broadcast_messages_sending_idx",
    "ALTER TABLE broadcast_messages DROP CONSTRAINT broadcast_messages_cancelled_at_check",
    "ALTER TABLE broadcast_messages DROP COLUMN cancelled_at",
    "ALTER TABLE broadcast_messages DROP COLUMN from_name",
    "DROP INDEX broadcast_deliveries_batch_key_idx",
    "ALTER TABLE broadcast_deliveries DROP COLUMN batch_key",
    "ALTER TABLE broadcast_deliveries DROP COLUMN claimed_at",
    "ALTER TABLE broadcast_deliveries DROP COLUMN not_before",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="fans",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
