"""Request and response models of fan broadcasts (docs/broadcasts.md lists every rule)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from umbrella.broadcasts.segments import Encoding

Channels = Literal["email", "sms", "both"]
BroadcastStatus = Literal["draft", "scheduled", "sending", "sent", "cancelled", "failed"]

# D-049: text only. An email body may be long; a text is capped by Twilio (error 21617).
MAX_EMAIL_BODY = 50_000
MAX_SMS_BODY = 1_600
MAX_SUBJECT = 200
MAX_LISTS = 50


def includes_email(channels: str) -> bool:
    return channels in ("email", "both")


def includes_sms(channels: str) -> bool:
    return channels in ("sms", "both")


class BroadcastIn(BaseModel):
    """A broadcast to send now (no `send_at`) or at a future time."""

    model_config = ConfigDict(extra="forbid")

    list_ids: list[UUID] = Field(min_length=1, max_length=MAX_LISTS)
    channels: Channels
    # validate_default: "required for email" must run when the field is left out too
    subject: str | None = Field(default=None, validate_default=True)
    body: str
    send_at: datetime | None = None

    @field_validator("list_ids")
    @classmethod
    def _distinct(cls, value: list[UUID]) -> list[UUID]:
        return list(dict.fromkeys(value))

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str | None, info: ValidationInfo) -> str | None:
        channels = info.data.get("channels")
        if value is not None:
            value = value.strip()
            if "\x00" in value:
                raise ValueError("must not contain NUL characters")
        if channels is not None and includes_email(channels) and not value:
            raise ValueError("an email needs a subject")
        if value is not None and len(value) > MAX_SUBJECT:
            raise ValueError(f"must be at most {MAX_SUBJECT} characters")
        return value or None

    @field_validator("body")
    @classmethod
    def _body(cls, value: str, info: ValidationInfo) -> str:
        channels = info.data.get("channels") or "email"
        if not value.strip():
            raise ValueError("must not be empty")
        if "\x00" in value:
            raise ValueError("must not contain NUL characters")
        if includes_email(channels) and len(value) > MAX_EMAIL_BODY:
            raise ValueError(f"an email body is at most {MAX_EMAIL_BODY:,} characters")
        if includes_sms(channels) and len(value) > MAX_SMS_BODY:
            raise ValueError(f"a text body is at most {MAX_SMS_BODY:,} characters")
        return value

    @field_validator("send_at")
    @classmethod
    def _future(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("must carry a time zone, e.g. 2026-12-24T18:00:00Z")
        if value <= datetime.now(UTC):
            raise ValueError("must be in the future; leave it out to send now")
        return value.astimezone(UTC)


class RecipientsOut(BaseModel):
    """Who a broadcast reaches, per channel, after opt-in, suppression and dedupe."""

    email: int
    sms: int
    total: int = Field(description="Deliveries: one per recipient and channel.")


class SmsCostOut(BaseModel):
    """What each text costs, as a carrier counts it (the artist name and STOP words included)."""

    text: str = Field(description="The text exactly as sent.")
    encoding: Encoding
    characters: int
    segments: int = Field(description="Segments of one text: 160/153 GSM-7, 70/67 UCS-2.")
    total_segments: int
    price_per_segment: Decimal
    estimated_cost: Decimal
    currency: Literal["USD"] = "USD"


class PreviewOut(BaseModel):
    recipients: RecipientsOut
    sms: SmsCostOut | None = Field(description="Null when the broadcast sends no text.")


class BroadcastOut(BaseModel):
    id: UUID
    channels: Channels
    subject: str | None
    body: str
    status: BroadcastStatus
    list_ids: list[UUID]
    recipient_count: int = Field(description="Deliveries: one per recipient and channel.")
    scheduled_at: datetime | None
    started_at: datetime | None
    sent_at: datetime | None
    cancelled_at: datetime | None
    created_at: datetime


class DeliveryCountsOut(BaseModel):
    sent: int
    failed: int
    pending: int = Field(description="Waiting or being sent now.")
    deferred: int = Field(description="Texts held for the recipient's quiet hours or a retry.")
    skipped: int = Field(description="Not sent: cancelled, unsubscribed or stopped meanwhile.")
    unsubscribed_since: int = Field(
        description="Recipients who unsubscribed or texted STOP after the broadcast started."
    )


class BroadcastHistoryOut(BroadcastOut):
    counts: DeliveryCountsOut
