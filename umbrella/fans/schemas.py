"""Request and response models of contacts: lists, members, imports and the webhooks' answers."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints


def _plain_name(value: str) -> str:
    # A list name is shown in pickers: no invisible control characters making two look alike.
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise ValueError("a name cannot contain control characters")
    return value


ListName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_plain_name),
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


class ContactListCreateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: ListName = Field(description="1 to 100 characters, unique among your lists.")
    description: Description | None = None


class ContactListUpdateIn(BaseModel):
    """Rename a list (`name`) and/or change its `description` (null clears it)."""

    model_config = ConfigDict(extra="forbid")

    name: ListName | None = None
    description: Description | None = None


class ChannelCounts(BaseModel):
    email: int = Field(description="Members opted in to email whose address is not suppressed.")
    sms: int = Field(description="Members opted in to SMS whose number is not suppressed.")


class ContactListOut(BaseModel):
    id: UUID
    name: str
    description: str | None
    member_count: int
    opted_in: ChannelCounts = Field(description="Who a broadcast to this list would reach.")
    created_at: datetime
    updated_at: datetime


class ContactMemberOut(BaseModel):
    id: UUID
    email: str | None
    phone: str | None = Field(description="E.164.")
    name: str | None
    email_opt_in: bool
    sms_opt_in: bool
    timezone: str | None = Field(description="IANA name; SMS quiet hours follow it.")
    city: str | None
    email_consent_at: datetime | None = Field(description="When email consent was recorded.")
    sms_consent_at: datetime | None = Field(description="When SMS consent was recorded.")
    consent_source: Literal["import", "form"] | None = Field(
        description="How consent was given: import or form."
    )
    consent_ip: str | None = Field(description="The address consent came from, when known.")
    email_suppressed: bool = Field(
        description="The address unsubscribed, bounced or complained: it gets no email."
    )
    sms_suppressed: bool = Field(description="The number texted STOP: it gets no text.")
    created_at: datetime
    updated_at: datetime


class RejectedRow(BaseModel):
    row: int = Field(description="CSV: the line in the file (the header is 1). JSON: 1-based.")
    field: str
    reason: str


class ImportReportOut(BaseModel):
    """What an import did, row by row where it refused one."""

    list_id: UUID
    list_created: bool = Field(description="The list was made by this import (`list_name`).")
    rows: int = Field(description="Data rows read (blank lines not counted).")
    imported: int = Field(description="New members.")
    updated: int = Field(description="Members already on the list, updated.")
    merged: int = Field(description="Rows with the email or phone of an earlier row, merged.")
    suppressed: int = Field(
        description="Imported addresses that stay suppressed (unsubscribed, STOP, bounced)."
    )
    rejected_count: int
    rejected: list[RejectedRow] = Field(description="The first 100 rejected rows.")
    more_rejected: int = Field(description="Rejected rows not listed in `rejected`.")


class DeletedOut(BaseModel):
    deleted: bool


class UnsubscribedOut(BaseModel):
    unsubscribed: bool
