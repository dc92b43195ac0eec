"""Response models of the calendar feed (its endpoints take no body)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class CalendarFeedOut(BaseModel):
    """Whether the caller has a calendar feed link; the link itself is shown only once."""

    exists: bool
    created_at: datetime | None = Field(description="When the current link was made.")
    last_used_at: datetime | None = Field(
        description="When a calendar last fetched the feed (updated at most once an hour)."
    )


class CalendarTokenOut(BaseModel):
    """A new feed link: shown this once, it replaces any earlier one at once."""

    url: str = Field(description="The feed: paste it into Google Calendar (From URL).")
    webcal_url: str = Field(description="The same feed for Apple Calendar and Outlook.")
    created_at: datetime
