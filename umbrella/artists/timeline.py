"""The timeline (SPEC §3.2): an artist's dated entries, public once onboarding is done."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from umbrella.artists.schemas import DeletedOut, TimelineEntryOut
from umbrella.artists.service import NO_SUCH_ARTIST, get_own_artist_id, update_columns
from umbrella.artists.tables import TimelineEntry
from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.errors import NotFound, ValidationFailed
from umbrella.core.pagination import Cursors

_TIMELINE_COLUMNS = (
    TimelineEntry.id,
    TimelineEntry.entry_type,
    TimelineEntry.occurred_on,
    TimelineEntry.title,
    TimelineEntry.description,
    TimelineEntry.created_at,
)
NO_SUCH_ENTRY = "No such timeline entry."


async def create_timeline_entry(
    *, user_id: UUID, role: str, fields: dict[str, Any]
) -> TimelineEntryOut:
    """Add a dated entry to the caller's timeline."""
    artist_id = await get_own_artist_id(user_id=user_id, role=role)
    rows = await TimelineEntry.insert(
        TimelineEntry(id=uuid.uuid4(), artist_id=artist_id, created_at=datetime.now(UTC), **fields)
    ).returning(*_TIMELINE_COLUMNS)
    return TimelineEntryOut.model_validate(rows[0])


async def update_timeline_entry(
    *, user_id: UUID, role: str, entry_id: UUID, changes: dict[str, Any]
) -> TimelineEntryOut:
    """Change an entry of the caller's own timeline; anyone else's is not found."""
    if not changes:
        raise ValidationFailed("Send at least one field to change.", field="body")
    artist_id = await get_own_artist_id(user_id=user_id, role=role)
    rows = (
        await TimelineEntry.update(update_columns(changes))
        .where((TimelineEntry.id == entry_id) & (TimelineEntry.artist_id == artist_id))
        .returning(*_TIMELINE_COLUMNS)
    )
    if not rows:
        raise NotFound(NO_SUCH_ENTRY)
    return TimelineEntryOut.model_validate(rows[0])


async def delete_timeline_entry(*, user_id: UUID, role: str, entry_id: UUID) -> DeletedOut:
    """Remove an entry of the caller's own timeline; anyone else's is not found."""
    artist_id = await get_own_artist_id(user_id=user_id, role=role)
    rows = (
        await TimelineEntry.delete()
        .where((TimelineEntry.id == entry_id) & (TimelineEntry.artist_id == artist_id))
        .returning(TimelineEntry.id)
    )
    if not rows:
        raise NotFound(NO_SUCH_ENTRY)
    return DeletedOut(id=entry_id, deleted=True)


async def list_timeline(
    *, settings: Settings, artist_id: UUID, cursor: str | None, limit: int
) -> dict[str, Any]:
    """A page of an artist's public timeline, newest first (by date, then id)."""
    cursors = Cursors(settings, "timeline")
    after = cursors.decode(cursor)
    public = await db.fetch(
        "SELECT 1 FROM artists a JOIN users u ON u.id = a.user_id"
        " WHERE a.id = $1 AND u.onboarding_complete",
        artist_id,
    )
    if not public:
        raise NotFound(NO_SUCH_ARTIST)
    query = (
        TimelineEntry.select(*_TIMELINE_COLUMNS)
        .where(TimelineEntry.artist_id == artist_id)
        .order_by(TimelineEntry.occurred_on, TimelineEntry.id, ascending=False)
        .limit(limit + 1)
    )
    if after is not None:
        on, last_id = date.fromisoformat(after["occurred_on"]), UUID(after["id"])
        query = query.where(
            (TimelineEntry.occurred_on < on)
            | ((TimelineEntry.occurred_on == on) & (TimelineEntry.id < last_id))
        )
    rows = await query
    next_cursor = cursors.next_cursor(
        rows,
        limit,
        lambda row: {"occurred_on": row["occurred_on"].isoformat(), "id": str(row["id"])},
    )
    return {
        "items": [TimelineEntryOut.model_validate(row) for row in rows[:limit]],
        "next_cursor": next_cursor,
    }
