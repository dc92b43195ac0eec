"""Messaging at work: per-user inbox versions for cheap polling, the email throttle, attachments."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-02T12:00:05:000000"
VERSION = "1.38.0"
DESCRIPTION = (
    "inbox_versions; conversations activity, versions, reads and notifications per side;"
    " messages.attachment_counted; cascade triggers"
)

FORWARDS = [
    # One counter per user, bumped (row-locked) by every change to their conversation list:
    # versions are handed out in commit order, so `since` never skips a change.
    """
    CREATE TABLE inbox_versions (
        user_id uuid NOT NULL,
        version bigint NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT inbox_versions_pkey PRIMARY KEY (user_id),
        CONSTRAINT inbox_versions_user_id_fkey FOREIGN KEY (user_id)
            REFERENCES users (id) ON DELETE CASCADE,
        CONSTRAINT inbox_versions_version_check CHECK (version >= 0)
    )
    """,
    # The inbox sorts by the last message, or by creation before the first one.
    "ALTER TABLE conversations ADD COLUMN last_activity_at timestamptz NOT NULL DEFAULT now()",
    "UPDATE conversations SET last_activity_at = coalesce(last_message_at, created_at)",
    """
    ALTER TABLE conversations
        ADD COLUMN last_message_by smallint,
        -- the inbox version of each side when this conversation last changed for them
        ADD COLUMN version_1 bigint NOT NULL DEFAULT 0,
        ADD COLUMN version_2 bigint NOT NULL DEFAULT 0,
        ADD COLUMN last_read_at_1 timestamptz,
        ADD COLUMN last_read_at_2 timestamptz,
        -- the last "New message from …" email to each side (at most one per 15 minutes)
        ADD COLUMN notified_at_1 timestamptz,
        ADD COLUMN notified_at_2 timestamptz,
        ADD CONSTRAINT conversations_last_message_by_check CHECK (last_message_by IN (1, 2)),
        ADD CONSTRAINT conversations_versions_check CHECK (version_1 >= 0 AND version_2 >= 0)
    """,
    "DROP INDEX conversations_participant_1_id_last_message_at_idx",
    "DROP INDEX conversations_participant_2_id_last_message_at_idx",
    # The inbox, newest activity first, keyset-paged on (last_activity_at, id), either side.
    """
    CREATE INDEX conversations_participant_1_id_last_activity_at_id_idx
        ON conversations (participant_1_id, last_activity_at DESC, id DESC)
    """,
    """
    CREATE INDEX conversations_participant_2_id_last_activity_at_id_idx
        ON conversations (participant_2_id, last_activity_at DESC, id DESC)
    """,
    # The 5-second poll: what changed for this user after the version they hold.
    "CREATE INDEX conversations_participant_1_id_version_1_idx ON conversations (participant_1_id, version_1)",
    "CREATE INDEX conversations_participant_2_id_version_2_idx ON conversations (participant_2_id, version_2)",
    # Whether the attachment's bytes count against the sender's artist quota (D-026).
    """
    ALTER TABLE messages ADD COLUMN attachment_counted boolean NOT NULL DEFAULT false,
        ADD CONSTRAINT messages_attachment_counted_check
            CHECK (NOT attachment_counted OR attachment_key IS NOT NULL)
    """,
    # Marking a conversation read touches only its unread messages.
    "CREATE INDEX messages_conversation_id_unread_idx ON messages (conversation_id) WHERE read_at IS NULL",
    # Messages and conversations go only by cascade (an account deletion): these triggers keep
    # the quota and the other side's inbox version right whoever deletes them.
    """
    CREATE FUNCTION messages_release_attachment_bytes() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE storage_quotas q
        SET used_bytes = GREATEST(q.used_bytes - g.bytes, 0), updated_at = now()
        FROM (
            SELECT a.id AS artist_id, sum(m.attachment_size) AS bytes
            FROM gone m JOIN artists a ON a.user_id = m.sender_id
            WHERE m.attachment_counted
            GROUP BY a.id
        ) g
        WHERE q.artist_id = g.artist_id;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER messages_release_attachment_bytes AFTER DELETE ON messages
        REFERENCING OLD TABLE AS gone
        FOR EACH STATEMENT EXECUTE FUNCTION messages_release_attachment_bytes()
    """,
    """
    CREATE FUNCTION conversations_bump_inbox_versions() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        -- In user id order, the order every messaging write locks these rows in.
        PERFORM 1 FROM inbox_versions
        WHERE user_id IN (SELECT participant_1_id FROM gone UNION SELECT participant_2_id FROM gone)
        ORDER BY user_id FOR NO KEY UPDATE;
        UPDATE inbox_versions SET version = version + 1, updated_at = now()
        WHERE user_id IN (SELECT participant_1_id FROM gone UNION SELECT participant_2_id FROM gone);
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER conversations_bump_inbox_versions AFTER DELETE ON conversations
        REFERENCING OLD TABLE AS gone
        FOR EACH STATEMENT EXECUTE FUNCTION conversations_bump_inbox_versions()
    """,
]

BACKWARDS = [
    "DROP TRIGGER conversations_bump_inbox_versions ON conversations",
    "DROP FUNCTION conversations_bump_inbox_versions()",
    "DROP TRIGGER messages_release_attachment_bytes ON messages",
    "DROP FUNCTION messages_release_attachment_bytes()",
    "DROP INDEX messages_conversation_id_unread_idx",
    "ALTER TABLE messages DROP COLUMN attachment_counted",
    "DROP INDEX conversations_participant_2_id_version_2_idx",
    "DROP INDEX conversations_participant_1_id_version_1_idx",
    "DROP INDEX conversations_participant_2_id_last_activity_at_id_idx",
    "DROP INDEX conversations_participant_1_id_last_activity_at_id_idx",
    "CREATE INDEX conversations_participant_1_id_last_message_at_idx ON conversations (participant_1_id, last_message_at DESC)",
    "CREATE INDEX conversations_participant_2_id_last_message_at_idx ON conversations (participant_2_id, last_message_at DESC)",
    """
    ALTER TABLE conversations
        DROP COLUMN last_activity_at,
        DROP COLUMN last_message_by,
        DROP COLUMN version_1,
        DROP COLUMN version_2,
        DROP COLUMN last_read_at_1,
        DROP COLUMN last_read_at_2,
        DROP COLUMN notified_at_1,
        DROP COLUMN notified_at_2
    """,
    "DROP TABLE inbox_versions",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="messaging",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
