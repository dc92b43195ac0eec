"""Tables of fan broadcasts: the message, the lists it goes to, one delivery per recipient."""

from piccolo.columns import UUID, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.constraints import Check, Unique
from piccolo.table import Table

from umbrella.artists.tables import Artist
from umbrella.fans.tables import ContactList, ContactListMember

BROADCAST_CHANNELS = ("email", "sms", "both")
BROADCAST_STATUSES = ("draft", "scheduled", "sending", "sent", "cancelled", "failed")
DELIVERY_STATUSES = ("pending", "sending", "sent", "failed", "skipped")


class BroadcastMessage(Table, tablename="broadcast_messages"):
    """A text-only fan blast (D-049) by email, SMS or both, sent now or scheduled."""

    id = UUID(primary_key=True)
    artist_id = ForeignKey(references=Artist, on_delete=OnDelete.cascade, null=False)
    subject = Varchar(length=200, null=True, default=None)
    body = Text()
    channels = Varchar(length=8)
    recipient_count = Integer(default=0)
    status = Varchar(length=16, default="draft")
    scheduled_at = Timestamptz(null=True, default=None)
    started_at = Timestamptz(null=True, default=None)
    sent_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    from_name = Varchar(length=100, null=True, default=None)
    cancelled_at = Timestamptz(null=True, default=None)

    broadcast_messages_body_check = Check("char_length(btrim(body)) >= 1")
    broadcast_messages_channels_check = Check("channels IN ('email', 'sms', 'both')")
    broadcast_messages_subject_check = Check("channels = 'sms' OR subject IS NOT NULL")
    broadcast_messages_recipient_count_check = Check("recipient_count >= 0")
    broadcast_messages_status_check = Check(
        "status IN ('draft', 'scheduled', 'sending', 'sent', 'cancelled', 'failed')"
    )
    broadcast_messages_scheduled_at_check = Check(
        "status <> 'scheduled' OR scheduled_at IS NOT NULL"
    )
    broadcast_messages_sent_at_check = Check("status <> 'sent' OR sent_at IS NOT NULL")
    broadcast_messages_cancelled_at_check = Check(
        "status <> 'cancelled' OR cancelled_at IS NOT NULL"
    )


class BroadcastList(Table, tablename="broadcast_lists"):
    """A list a broadcast goes to; the key is (broadcast_id, list_id)."""

    # Piccolo needs a single primary-key column; the real key is the pair.
    broadcast_id = ForeignKey(
        references=BroadcastMessage, on_delete=OnDelete.cascade, null=False, primary_key=True
    )
    list_id = ForeignKey(references=ContactList, on_delete=OnDelete.cascade, null=False)


class BroadcastDelivery(Table, tablename="broadcast_deliveries"):
    """One recipient of a broadcast on one channel: claimed, sent, then marked."""

    id = UUID(primary_key=True)
    broadcast_id = ForeignKey(references=BroadcastMessage, on_delete=OnDelete.cascade, null=False)
    member_id = ForeignKey(
        references=ContactListMember, on_delete=OnDelete.set_null, null=True, default=None
    )
    channel = Varchar(length=8)
    address = Varchar(length=320)
    status = Varchar(length=16, default="pending")
    attempts = Integer(default=0)
    last_error = Text(null=True, default=None)
    provider_message_id = Varchar(length=255, null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)
    not_before = Timestamptz(null=True, default=None)
    claimed_at = Timestamptz(null=True, default=None)
    batch_key = Varchar(length=64, null=True, default=None)

    broadcast_deliveries_broadcast_id_member_id_channel_key = Unique(
        ["broadcast_id", "member_id", "channel"]
    )
    broadcast_deliveries_broadcast_id_channel_address_key = Unique(
        ["broadcast_id", "channel", "address"]
    )
    broadcast_deliveries_channel_check = Check("channel IN ('email', 'sms')")
    broadcast_deliveries_status_check = Check(
        "status IN ('pending', 'sending', 'sent', 'failed', 'skipped')"
    )
    broadcast_deliveries_attempts_check = Check("attempts >= 0")
    broadcast_deliveries_sent_at_check = Check("status <> 'sent' OR sent_at IS NOT NULL")
