"""Request and response models of the studio: journal entries (typed blocks) and goals.

Every length matches its column in `migrations/studio`; docs/studio.md lists each rule.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal, TypeAlias
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from umbrella.artists.fields import IsoDate

MAX_BLOCKS = 200
MAX_TEXT_CHARS = 20_000
MAX_CAPTION_CHARS = 500
BLOCK_TYPES = ("text", "image", "audio", "video")

BlockType = Literal["text", "image", "audio", "video"]
MediaBlockType = Literal["image", "audio", "video"]
EntryType = Literal["text", "video", "mixed"]
GoalType = Literal["earnings", "gigs", "followers", "tracks", "custom"]
# Goals the daily batch measures; `custom` is counted by the artist.
AUTOMATIC_GOAL_TYPES: tuple[GoalType, ...] = ("earnings", "gigs", "followers", "tracks")
# Counted in whole units: a target of 2.5 gigs is a typo.
WHOLE_GOAL_TYPES: tuple[GoalType, ...] = ("gigs", "followers", "tracks")

# A title may be left empty (the column is NOT NULL without a default: "" is "untitled").
EntryTitle = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
GoalTitle = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
Caption = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_CAPTION_CHARS)]
# Text is kept as written (no strip): leading spaces and blank lines are the artist's layout.
Content = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS)]
# numeric(12,2): at most 9,999,999,999.99, in cents. A target is more than 0: in cents that
# is at least 0.01, spelled `ge` because OpenAPI 3.0 has no numeric exclusiveMinimum.
MIN_TARGET = Decimal("0.01")
Amount = Annotated[Decimal, Field(le=Decimal("9999999999.99"), decimal_places=2)]


class _In(BaseModel):
    """A request body: unknown fields are refused, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


# -- journal -----------------------------------------------------------------------------------


class TextBlock(_In):
    type: Literal["text"]
    content: Content = Field(description=f"1 to {MAX_TEXT_CHARS:,} characters, kept as written.")


class _MediaBlock(_In):
    file_id: UUID = Field(description="One of your files (GET /v1/files) of this block's kind.")
    caption: Caption | None = None


class ImageBlock(_MediaBlock):
    type: Literal["image"]


class AudioBlock(_MediaBlock):
    type: Literal["audio"]


class VideoBlock(_MediaBlock):
    type: Literal["video"]


Block: TypeAlias = Annotated[
    TextBlock | ImageBlock | AudioBlock | VideoBlock, Field(discriminator="type")
]
Blocks = Annotated[list[Block], Field(max_length=MAX_BLOCKS)]


class JournalEntryIn(_In):
    """A new entry: a title, blocks, or both (an entry with neither is refused)."""

    title: EntryTitle = Field(default="", description="At most 200 characters; may be empty.")
    blocks: Blocks = Field(default_factory=list, description=f"At most {MAX_BLOCKS} blocks.")


class JournalEntryUpdateIn(_In):
    """Replace the title and/or the whole list of blocks; what is left out stays."""

    title: EntryTitle | None = None
    blocks: Blocks | None = None


class BlockOut(BaseModel):
    """A block as stored; media blocks also describe their file, if it still exists."""

    type: BlockType
    content: str | None = Field(default=None, description="Text blocks only.")
    file_id: UUID | None = Field(default=None, description="Media blocks only.")
    caption: str | None = None
    filename: str | None = Field(default=None, description="Null once the file is deleted.")
    mime_type: str | None = None
    download_url: str | None = Field(
        default=None, description="Valid for one hour; null once the file is deleted."
    )
    download_expires_at: dt.datetime | None = None


class JournalEntrySummaryOut(BaseModel):
    id: UUID
    title: str
    entry_type: EntryType = Field(
        description="text: text blocks only; video: videos and text; mixed: images or audio."
    )
    block_count: int
    excerpt: str = Field(description="The start of the first text block, up to 200 characters.")
    created_at: dt.datetime
    updated_at: dt.datetime


class JournalEntryOut(BaseModel):
    id: UUID
    title: str
    entry_type: EntryType
    blocks: list[BlockOut]
    created_at: dt.datetime
    updated_at: dt.datetime


class DeletedOut(BaseModel):
    deleted: bool


# -- goals -------------------------------------------------------------------------------------


class GoalIn(_In):
    """A new goal; `current_value` is given only for custom goals (the others are measured)."""

    title: GoalTitle
    description: Description | None = None
    goal_type: GoalType
    target_value: Amount = Field(
        ge=MIN_TARGET, description="More than 0; whole for gigs, followers and tracks."
    )
    current_value: Amount | None = Field(
        default=None, ge=0, description="Custom goals only: your progress so far (default 0)."
    )
    target_date: IsoDate | None = Field(default=None, description="Today (UTC) or later.")


class GoalUpdateIn(_In):
    """Change a goal's fields; what is left out stays. The type of a goal never changes."""

    title: GoalTitle | None = None
    description: Description | None = None
    target_value: Amount | None = Field(default=None, ge=MIN_TARGET)
    current_value: Amount | None = Field(default=None, ge=0, description="Custom goals only.")
    target_date: IsoDate | None = Field(default=None, description="Null: no target date.")


class GoalOut(BaseModel):
    id: UUID
    title: str
    description: str | None
    goal_type: GoalType
    automatic: bool = Field(description="Measured by the daily batch (all types but custom).")
    target_value: Decimal
    current_value: Decimal = Field(
        description="Automatic goals: as of the last daily batch (or creation); custom: yours."
    )
    progress_percent: float = Field(description="current of target, 0 to 100, two decimals.")
    target_date: dt.date | None
    completed: bool
    completed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
