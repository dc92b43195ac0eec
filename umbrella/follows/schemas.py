"""Response models of follows (follow and unfollow take no body)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field


class FollowOut(BaseModel):
    """Whether the caller follows the artist now, and the artist's follower count."""

    artist_id: UUID
    following: bool
    follower_count: int


class FollowerOut(BaseModel):
    """One follower as anyone may see them: a name, never an email."""

    display_name: str | None
    artist_id: UUID | None = Field(description="Set when the follower is an artist.")
    stage_name: str | None = Field(description="Set when the follower is an artist.")
    followed_at: datetime


class FollowedArtistOut(BaseModel):
    """An artist the caller follows."""

    artist_id: UUID
    stage_name: str
    avatar_url: str | None
    followed_at: datetime
