from piccolo.columns import JSONB, UUID, ForeignKey, Integer, OnDelete, Text, Timestamptz, Varchar
from piccolo.constraints import Check
from piccolo.table import Table

from umbrella.accounts.tables import User

NOTIFICATION_KINDS = (
    "welcome",
    "message",
    "review_invitation",
    "booking_confirmation",
    "booking_declined",
    "broadcast",
    "other",
)
CHANNELS = ("email", "sms")
NOTIFICATION_STATUSES = ("queued", "sent", "failed")


class Notification(Table, tablename="notifications"):
    """One email or SMS to one recipient: queued, then sent or failed with its last error."""

    id = UUID(primary_key=True)
    user_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=True, default=None)
    kind = Varchar(length=32)
    channel = Varchar(length=8)
    recipient = Varchar(length=320)
    payload = JSONB(default="{}")
    status = Varchar(length=16, default="queued")
    attempts = Integer(default=0)
    last_error = Text(null=True, default=None)
    provider_message_id = Varchar(length=255, null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)

    notifications_kind_check = Check(
        "kind IN ('welcome', 'message', 'review_invitation', 'application_confirmation',"
        " 'application_rejected', 'application_reminder', 'booking_confirmation',"
        " 'booking_declined', 'gig_cancelled', 'booking_reminder', 'gig_follow_up',"
        " 'gig_alerts', 'broadcast', 'other')"
    )
    notifications_channel_check = Check("channel IN ('email', 'sms')")
    notifications_payload_check = Check("jsonb_typeof(payload) = 'object'")
    notifications_status_check = Check("status IN ('queued', 'sent', 'failed')")
    notifications_attempts_check = Check("attempts >= 0")
    notifications_sent_at_check = Check("(status = 'sent') = (sent_at IS NOT NULL)")
