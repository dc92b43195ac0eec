"""Tables of fans' contacts: lists, their members with proof of consent, suppressions."""

from piccolo.columns import (
    UUID,
    Boolean,
    Column,
    ForeignKey,
    OnDelete,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.constraints import Check, Unique
from piccolo.table import Table

from umbrella.artists.tables import Artist

SUPPRESSION_REASONS = ("unsubscribe", "stop", "bounce", "complaint")
CONSENT_SOURCES = ("import", "form")


class Inet(Column):
    """Postgres `inet`, which Piccolo lacks; asyncpg reads it as an `ipaddress` object."""

    value_type = str


class ContactList(Table, tablename="contact_lists"):
    """A named segment of an artist's fans."""

    id = UUID(primary_key=True)
    artist_id = ForeignKey(references=Artist, on_delete=OnDelete.cascade, null=False)
    name = Varchar(length=100)
    description = Text(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()

    contact_lists_artist_id_name_key = Unique(["artist_id", "name"])
    contact_lists_name_check = Check("char_length(btrim(name)) >= 1")


class ContactListMember(Table, tablename="contact_list_members"):
    """A fan on a list, with the channels they agreed to and proof of that consent."""

    id = UUID(primary_key=True)
    list_id = ForeignKey(references=ContactList, on_delete=OnDelete.cascade, null=False)
    email = Varchar(length=320, null=True, default=None)
    phone = Varchar(length=16, null=True, default=None)
    name = Varchar(length=200, null=True, default=None)
    email_opt_in = Boolean(default=False)
    sms_opt_in = Boolean(default=False)
    timezone = Varchar(length=64, null=True, default=None)
    city = Varchar(length=100, null=True, default=None)
    email_consent_at = Timestamptz(null=True, default=None)
    sms_consent_at = Timestamptz(null=True, default=None)
    consent_source = Varchar(length=16, null=True, default=None)
    consent_ip = Inet(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()

    contact_list_members_list_id_email_key = Unique(["list_id", "email"])
    contact_list_members_list_id_phone_key = Unique(["list_id", "phone"])
    contact_list_members_contact_check = Check("email IS NOT NULL OR phone IS NOT NULL")
    contact_list_members_email_lowercase_check = Check("email = lower(email)")
    contact_list_members_phone_e164_check = Check("phone ~ '^\\+[1-9][0-9]{6,14}$'")
    contact_list_members_email_opt_in_check = Check("NOT email_opt_in OR email IS NOT NULL")
    contact_list_members_sms_opt_in_check = Check("NOT sms_opt_in OR phone IS NOT NULL")
    contact_list_members_consent_source_check = Check("consent_source IN ('import', 'form')")


class FanSuppression(Table, tablename="fan_suppressions"):
    """An address an artist must never message again on a channel (unsubscribe, STOP...)."""

    id = UUID(primary_key=True)
    artist_id = ForeignKey(references=Artist, on_delete=OnDelete.cascade, null=False)
    channel = Varchar(length=8)
    address = Varchar(length=320)
    reason = Varchar(length=16)
    created_at = Timestamptz()

    fan_suppressions_artist_id_channel_address_key = Unique(["artist_id", "channel", "address"])
    fan_suppressions_channel_check = Check("channel IN ('email', 'sms')")
    fan_suppressions_reason_check = Check(
        "reason IN ('unsubscribe', 'stop', 'bounce', 'complaint')"
    )
