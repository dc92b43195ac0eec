"""The timeline (SPEC §3.2): an artist's dated entries, public once onboarding is done."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from umbrella.artists.schemas import DeletedOut, TimelineEntryOut
from umbrella.artists.service import NO_SUCH_ARTIST, update_columns
from umbrella.artists.tables import TimelineEntry
from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.errors import NotFound, ValidationFailed
from umbrella.core.pagination import Keyset, ListPage, Pager
from umbrella.core.sql import Conditions

_TIMELINE_COLUMNS = (
    TimelineEntry.id,
    TimelineEntry.entry_type,
    TimelineEntry.occurred_on,
    TimelineEntry.title,
    TimelineEntry.description,
    TimelineEntry.created_at,
)
NO_SUCH_ENTRY = "No such timeline entry."
# By the entry's date, newest first (cursor key `occurred_on`, as cursors already out say).
BY_DATE = Keyset("occurred_on", "occurred_on", descending=True, parse=date.fromisoformat)


async def create_timeline_entry(*, caller: Caller, fields: dict[str, Any]) -> TimelineEntryOut:
    """Add a dated entry to the caller's timeline."""
    artist_id = await caller.require_artist()
    rows = await TimelineEntry.insert(
        TimelineEntry(id=uuid.uuid4(), artist_id=artist_id, created_at=datetime.now(UTC), **fields)
    ).returning(*_TIMELINE_COLUMNS)
    return TimelineEntryOut.model_validate(rows[0])


async def update_timeline_entry(
    *, caller: Caller, entry_id: UUID, changes: dict[str, Any]
) -> TimelineEntryOut:
    """Change an entry of the caller's own timeline; anyone else's is not found."""
    if not changes:
        raise ValidationFailed("Send at least one field to change.", field="body")
    artist_id = await caller.require_artist()
    rows = (
        await TimelineEntry.update(update_columns(changes))
        .where((TimelineEntry.id == entry_id) & (TimelineEntry.artist_id == artist_id))
        .returning(*_TIMELINE_COLUMNS)
    )
    if not rows:
        raise NotFound(NO_SUCH_ENTRY)
    return TimelineEntryOut.model_validate(rows[0])


async def delete_timeline_entry(*, caller: Caller, entry_id: UUID) -> DeletedOut:
    """Remove an entry of the caller's own timeline; anyone else's is not found."""
    artist_id = await caller.require_artist()
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
) -> ListPage[TimelineEntryOut]:
    """A page of an artist's public timeline, newest first (by date, then id)."""
    pager = Pager(settings, "timeline", cursor=cursor, limit=limit, keyset=BY_DATE)
    public = await db.fetch(
        "SELECT 1 FROM artists a JOIN users u ON u.id = a.user_id"
        " WHERE a.id = $1 AND u.onboarding_complete",
        artist_id,
    )
    if not public:
        raise NotFound(NO_SUCH_ARTIST)
    where = Conditions()
    where.add("t.artist_id = {}", artist_id)
    pager.narrow(where, alias="t")
    rows = await db.fetch(
        "SELECT t.id, t.entry_type, t.occurred_on, t.title, t.description, t.created_at"
        f" FROM timeline_entries t WHERE {where.sql}"
        f" ORDER BY {pager.order_by('t')} LIMIT {where.param(pager.fetch)}",
        *where.values,
    )
    return pager.page(rows, TimelineEntryOut.model_validate)
