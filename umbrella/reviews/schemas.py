"""Request and response models of reviews: invitations, submissions and the public lists."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, EmailStr, Field, StringConstraints

MAX_COMMENT = 2000  # reviews_comment_length_check
MAX_NOTE = 500  # ReviewInvitationPayload.note


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


Rating = Annotated[int, Field(strict=True, ge=1, le=5, description="1 (poor) to 5 (excellent).")]
Comment = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_COMMENT)] | None,
    BeforeValidator(_blank_to_none),
]
Note = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_NOTE)] | None,
    BeforeValidator(_blank_to_none),
]
ReviewerName = Annotated[
    Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None,
    BeforeValidator(_blank_to_none),
]


class InvitationIn(BaseModel):
    """Invite anyone by email to review you (D-032); they need no account."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(max_length=320)
    note: Note = Field(default=None, description="A personal line quoted in the email.")


class InvitationOut(BaseModel):
    """The invitation sent; its link goes to the invitee only and is never shown here."""

    id: UUID
    email: str
    created_at: datetime
    expires_at: datetime


class InvitationStatusOut(BaseModel):
    """What the review page shows before the invitee writes their review."""

    artist_id: UUID
    artist_name: str
    expires_at: datetime
    usable: bool
    reason: Literal["used", "expired"] | None = Field(
        description="Why the link can no longer be used; null while it can."
    )


# The link's token travels in request bodies, never in a URL path: paths end up in ingress
# access logs and traces, and the token works like a password until it is used.
Token = Annotated[
    str,
    Field(min_length=1, max_length=128, description="The token from the invitation link."),
]


class InvitationTokenIn(BaseModel):
    """Which invitation link the review page was opened with."""

    model_config = ConfigDict(extra="forbid")

    token: Token


class ReviewIn(BaseModel):
    """A review submitted through an invitation link."""

    model_config = ConfigDict(extra="forbid")

    token: Token
    rating: Rating
    comment: Comment = None
    reviewer_name: ReviewerName = Field(
        default=None, description="Shown with the review; anonymous when absent."
    )


class GigReviewIn(BaseModel):
    """A review after a completed gig, by its venue or by an artist who played it."""

    model_config = ConfigDict(extra="forbid")

    rating: Rating
    comment: Comment = None


class ReviewOut(BaseModel):
    """A review of an artist as everyone sees it (never the reviewer's email)."""

    id: UUID
    artist_id: UUID
    rating: int
    comment: str | None
    reviewer_name: str | None
    source: Literal["invitation", "gig"]
    gig_id: UUID | None
    created_at: datetime


class VenueReviewOut(BaseModel):
    """A review of a venue by an artist who played one of its gigs."""

    id: UUID
    venue_user_id: UUID
    rating: int
    comment: str | None
    gig_id: UUID | None
    reviewer_artist_id: UUID | None = Field(description="Null once the artist left Umbrella.")
    reviewer_name: str | None = Field(description="The artist's stage name.")
    created_at: datetime
