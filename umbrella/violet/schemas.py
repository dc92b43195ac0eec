"""Request and response models of Violet: a prompt, its answer, the day's usage, the toolkit."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

# Prompts longer than this are refused before anything is counted.
MAX_PROMPT_CHARS = 4_000


class Context(StrEnum):
    """Which template frames the prompt (D-046); D-076 pre-fills gig inquiries."""

    DRAFT_MESSAGE = "draft_message"
    GIG_INQUIRY = "gig_inquiry"
    SONGWRITING = "songwriting"
    CAREER_ADVICE = "career_advice"


DEFAULT_CONTEXT = Context.CAREER_ADVICE


def _no_nul(value: str) -> str:
    # Postgres text cannot hold U+0000: refuse it as input rather than fail on insert.
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    return value


PromptText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_PROMPT_CHARS),
    AfterValidator(_no_nul),
]


class PromptIn(BaseModel):
    """A prompt for Violet; an unknown or missing `context` means career advice."""

    model_config = ConfigDict(extra="forbid")

    context: Context = Field(
        default=DEFAULT_CONTEXT,
        description="draft_message, gig_inquiry, songwriting or career_advice (the default, "
        "also for any other value).",
    )
    prompt: PromptText = Field(description="What to ask: 1 to 4,000 characters once trimmed.")
    gig_id: UUID | None = Field(
        default=None,
        description="gig_inquiry only (D-076): the gig whose facts pre-fill the inquiry; "
        "ignored by the other contexts.",
    )

    @field_validator("context", mode="before")
    @classmethod
    def _known_or_default(cls, value: Any) -> Any:
        # SPEC §3.8: an unknown context is not an error, it is career advice.
        if isinstance(value, str) and value in Context.__members__.values():
            return value
        return DEFAULT_CONTEXT


class TokensOut(BaseModel):
    """What one answer cost, in the model's tokens."""

    input_tokens: int
    output_tokens: int


class UsageOut(BaseModel):
    """The artist's Violet prompts today (D-062: 50 per UTC day)."""

    used: int
    limit: int
    remaining: int
    resets_at: dt.datetime = Field(description="The next midnight UTC.")


class PromptOut(BaseModel):
    """Violet's answer."""

    context: Context
    response: str
    model: str
    tokens: TokensOut
    usage: UsageOut


class TemplateOut(BaseModel):
    """One prompt template of the toolkit."""

    id: str
    context: Context
    name: str
    description: str
    example_prompt: str
    takes_gig_id: bool = False


class CategoryOut(BaseModel):
    """A group of templates."""

    id: str
    name: str
    description: str
    templates: list[TemplateOut]


class ToolkitOut(BaseModel):
    """What Violet can help with."""

    categories: list[CategoryOut]
