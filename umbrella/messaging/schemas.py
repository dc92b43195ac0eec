"""Request and response models of messaging: conversations, messages, polling, attachments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from umbrella.messaging.tables import MAX_MESSAGE_CHARS
from umbrella.storage.uploads import UploadRequestIn, UploadTicketOut


def _no_nul(value: str) -> str:
    # Postgres text cannot hold U+0000: refuse it as input rather than fail on insert.
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    return value


# D-043: 1 to 2,000 characters once the spaces around it are trimmed.
MessageText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_MESSAGE_CHARS),
    AfterValidator(_no_nul),
]
FileName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    AfterValidator(_no_nul),
]


class ConversationCreateIn(BaseModel):
    """Whom to talk to: a user, or an artist by their profile id (one of the two)."""

    model_config = ConfigDict(extra="forbid")

    user_id: UUID | None = Field(default=None, description="The other person's user id.")
    artist_id: UUID | None = Field(
        default=None, description="Or the artist profile id (what an artist's page knows)."
    )

    @model_validator(mode="after")
    def _one_of_them(self) -> Self:
        if (self.user_id is None) == (self.artist_id is None):
            raise ValueError("give either user_id or artist_id")
        return self


class ParticipantOut(BaseModel):
    """The other person of a conversation, as anyone may see them (never an email)."""

    user_id: UUID
    role: Literal["artist", "venue", "admin"]
    name: str = Field(description="What to show: the stage name of an artist, else the name.")
    display_name: str | None
    artist_id: UUID | None = Field(description="Set when they have an artist profile.")
    stage_name: str | None
    avatar_url: str | None = Field(description="A download link valid for one hour.")


class ConversationOut(BaseModel):
    """One conversation as the caller sees it: the other person, the last message, unread."""

    id: UUID
    other: ParticipantOut
    last_message_at: datetime | None
    last_message_preview: str | None = Field(description="The first 140 characters.")
    last_message_mine: bool | None = Field(description="Whether you sent the last message.")
    unread_count: int = Field(description="Messages to you not read yet.")
    other_last_read_at: datetime | None = Field(
        description="When the other person last read the conversation: your messages sent "
        "before it are seen."
    )
    last_activity_at: datetime = Field(description="The last message, or the creation.")
    created_at: datetime


class ConversationListOut(BaseModel):
    """A page of the inbox, or (with `since`) the conversations changed since a poll."""

    items: list[ConversationOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for older conversations; always null with `since`."
    )
    since: str = Field(
        description="Pass as `since` to get only what changed after this answer (keep the "
        "one of the first page while paging)."
    )
    has_more: bool = Field(
        description="With `since`: more changes are waiting; ask again at once with the new "
        "`since`."
    )


class AttachmentOut(BaseModel):
    """A message's file; its download link comes from the attachment route."""

    filename: str
    size_bytes: int
    mime_type: str


class MessageOut(BaseModel):
    id: UUID
    conversation_id: UUID
    sender_id: UUID
    mine: bool = Field(description="Whether you sent it.")
    content: str
    attachment: AttachmentOut | None
    read_at: datetime | None = Field(description="When the recipient read it.")
    created_at: datetime


class ThreadOut(BaseModel):
    """A conversation and one page of its messages, newest first."""

    conversation: ConversationOut
    items: list[MessageOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for older messages; null at the first message."
    )


class MessageCreateIn(BaseModel):
    """A message (D-043: 1 to 2,000 characters after trimming), with an uploaded file or not."""

    model_config = ConfigDict(extra="forbid")

    content: MessageText
    upload_id: UUID | None = Field(
        default=None, description="An attachment uploaded through POST /v1/messages/attachment."
    )


class ReadOut(BaseModel):
    conversation_id: UUID
    marked_read: int = Field(description="How many messages this call marked read.")
    unread_count: int


class AttachmentUploadIn(UploadRequestIn):
    """Ask for an attachment upload: an image, audio, video or document (SPEC §3.5 limits)."""

    conversation_id: UUID
    filename: FileName = Field(description="Shown to both sides and used for the download.")


class AttachmentUploadOut(UploadTicketOut):
    """The upload ticket, and the id the message will have once sent."""

    message_id: UUID = Field(description="The id the message with this file will have.")
    filename: str = Field(description="The name as stored (an extension added if missing).")


class AttachmentLinkOut(BaseModel):
    url: str = Field(description="A presigned GET, valid for one hour.")
    expires_at: datetime
    filename: str
    size_bytes: int
    mime_type: str
