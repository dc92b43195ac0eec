"""Conversations and messages."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-11-22T10:00:04:000000"
VERSION = "1.38.0"
DESCRIPTION = "conversations and messages"

FORWARDS = [
    """
    CREATE TABLE conversations (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        -- the pair is stored in uuid order, so one UNIQUE makes it one conversation per pair
        participant_1_id uuid NOT NULL,
        participant_2_id uuid NOT NULL,
        last_message_at timestamptz,
        last_message_preview varchar(140),
        unread_count_1 integer NOT NULL DEFAULT 0,
        unread_count_2 integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT conversations_pkey PRIMARY KEY (id),
        CONSTRAINT conversations_participant_1_id_participant_2_id_key
            UNIQUE (participant_1_id, participant_2_id),
        CONSTRAINT conversations_participant_1_id_fkey FOREIGN KEY (participant_1_id)
            REFERENCES users (id) ON DELETE CASCADE,
        CONSTRAINT conversations_participant_2_id_fkey FOREIGN KEY (participant_2_id)
            REFERENCES users (id) ON DELETE CASCADE,
        CONSTRAINT conversations_participants_order_check CHECK (participant_1_id < participant_2_id),
        CONSTRAINT conversations_unread_count_1_check CHECK (unread_count_1 >= 0),
        CONSTRAINT conversations_unread_count_2_check CHECK (unread_count_2 >= 0)
    )
    """,
    # A user's inbox, newest first, on either side of the pair (§3.4, polled every 5 s).
    "CREATE INDEX conversations_participant_1_id_last_message_at_idx ON conversations (participant_1_id, last_message_at DESC)",
    "CREATE INDEX conversations_participant_2_id_last_message_at_idx ON conversations (participant_2_id, last_message_at DESC)",
    """
    CREATE TABLE messages (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        conversation_id uuid NOT NULL,
        sender_id uuid NOT NULL,
        content text NOT NULL,
        -- attachments/{conversationId}/{messageId}-{filename} in the bucket
        attachment_key varchar(1024),
        attachment_name varchar(255),
        attachment_size bigint,
        attachment_mime varchar(100),
        read_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT messages_pkey PRIMARY KEY (id),
        CONSTRAINT messages_attachment_key_key UNIQUE (attachment_key),
        CONSTRAINT messages_conversation_id_fkey FOREIGN KEY (conversation_id)
            REFERENCES conversations (id) ON DELETE CASCADE,
        CONSTRAINT messages_sender_id_fkey FOREIGN KEY (sender_id)
            REFERENCES users (id) ON DELETE CASCADE,
        -- D-043: at most 2,000 characters
        CONSTRAINT messages_content_length_check CHECK (char_length(content) BETWEEN 1 AND 2000),
        CONSTRAINT messages_attachment_check CHECK (
            (attachment_key IS NULL) = (attachment_name IS NULL)
            AND (attachment_key IS NULL) = (attachment_size IS NULL)
            AND (attachment_key IS NULL) = (attachment_mime IS NULL)
        ),
        CONSTRAINT messages_attachment_size_check CHECK (attachment_size >= 0)
    )
    """,
    # keyset pagination of a thread, newest first
    "CREATE INDEX messages_conversation_id_created_at_id_idx ON messages (conversation_id, created_at DESC, id DESC)",
    "CREATE INDEX messages_sender_id_idx ON messages (sender_id)",
]

BACKWARDS = ["DROP TABLE messages", "DROP TABLE conversations"]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="messaging",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
