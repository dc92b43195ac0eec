from piccolo.columns import (
    UUID,
    BigInt,
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.constraints import Check, Unique
from piccolo.table import Table

from umbrella.accounts.tables import User

MAX_MESSAGE_CHARS = 2000  # D-043


class Conversation(Table, tablename="conversations"):
    """The one thread between two users; participant_1_id < participant_2_id.

    Columns ending in _1 or _2 belong to that participant's side of the thread.
    """

    id = UUID(primary_key=True)
    participant_1_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    participant_2_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    last_message_at = Timestamptz(null=True, default=None)
    last_message_preview = Varchar(length=140, null=True, default=None)
    unread_count_1 = Integer(default=0)
    unread_count_2 = Integer(default=0)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    last_activity_at = Timestamptz()
    last_message_by = SmallInt(null=True, default=None)
    version_1 = BigInt(default=0)
    version_2 = BigInt(default=0)
    last_read_at_1 = Timestamptz(null=True, default=None)
    last_read_at_2 = Timestamptz(null=True, default=None)
    notified_at_1 = Timestamptz(null=True, default=None)
    notified_at_2 = Timestamptz(null=True, default=None)

    conversations_participant_1_id_participant_2_id_key = Unique(
        ["participant_1_id", "participant_2_id"]
    )
    conversations_participants_order_check = Check("participant_1_id < participant_2_id")
    conversations_unread_count_1_check = Check("unread_count_1 >= 0")
    conversations_unread_count_2_check = Check("unread_count_2 >= 0")
    conversations_last_message_by_check = Check("last_message_by IN (1, 2)")
    conversations_versions_check = Check("version_1 >= 0 AND version_2 >= 0")


class Message(Table, tablename="messages"):
    """One message of a conversation, with an optional attachment in the bucket."""

    id = UUID(primary_key=True)
    conversation_id = ForeignKey(references=Conversation, on_delete=OnDelete.cascade, null=False)
    sender_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    content = Text()
    attachment_key = Varchar(length=1024, null=True, default=None)
    attachment_name = Varchar(length=255, null=True, default=None)
    attachment_size = BigInt(null=True, default=None)
    attachment_mime = Varchar(length=100, null=True, default=None)
    read_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    attachment_counted = Boolean(default=False)

    messages_attachment_key_key = Unique(["attachment_key"])
    messages_content_length_check = Check("char_length(content) BETWEEN 1 AND 2000")
    messages_attachment_check = Check(
        "(attachment_key IS NULL) = (attachment_name IS NULL)"
        " AND (attachment_key IS NULL) = (attachment_size IS NULL)"
        " AND (attachment_key IS NULL) = (attachment_mime IS NULL)"
    )
    messages_attachment_size_check = Check("attachment_size >= 0")
    messages_attachment_counted_check = Check(
        "NOT attachment_counted OR attachment_key IS NOT NULL"
    )


class InboxVersion(Table, tablename="inbox_versions"):
    """A user's inbox change counter: bumped by every change to their conversation list."""

    user_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False, primary_key=True)
    version = BigInt(default=0)
    updated_at = Timestamptz()

    inbox_versions_version_check = Check("version >= 0")
