"""The inbox poll (GET /v1/conversations): the list newest first, or what changed since a version.

The answer's ETag is made of the caller's inbox version (`cache.py`, from Redis when it can),
so a poll of an unchanged inbox is a 304 without a query; `since` is a signed inbox version,
and the conversations changed after it come oldest change first (`service.py` says why the
versions of one user never skip a change).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from redis.asyncio import Redis

from umbrella.config import Settings
from umbrella.core.errors import ValidationFailed
from umbrella.core.pagination import Cursors
from umbrella.core.storage import Storage
from umbrella.messaging import cache as inbox_cache
from umbrella.messaging.schemas import ConversationListOut
from umbrella.messaging.service import conversation_outs, side_sql
from umbrella.messaging.tables import Conversation
from umbrella.observability.metrics import Metrics


@dataclass(frozen=True)
class ConversationList:
    """The answer to a poll: the page, or None when the client's copy is current (304)."""

    etag: str
    page: ConversationListOut | None


async def list_conversations(
    *,
    settings: Settings,
    redis: Redis,
    metrics: Metrics,
    storage: Storage,
    user_id: UUID,
    since: str | None,
    cursor: str | None,
    limit: int,
    if_none_match: str | None,
) -> ConversationList:
    """The inbox newest first, or what changed since a poll; nothing (304) if it is current."""
    if since and cursor:
        raise ValidationFailed("Page with cursor, or poll with since: not both.", field="cursor")
    state = await inbox_cache.current_version(redis, metrics, user_id)
    query = f"since={since or ''}&cursor={cursor or ''}&limit={limit}"
    etag = inbox_cache.etag_of(user_id=user_id, version=state.version, query=query, now=time.time())
    # The busiest path: a session from Redis, the version from Redis, no query at all.
    if inbox_cache.matches(if_none_match, etag):
        return ConversationList(etag=etag, page=None)
    since_cursors = Cursors(settings, "conversations-since")
    since_position = _since_position(since_cursors, since)
    if since is not None and since_position is not None and since_position["v"] == state.version:
        empty = ConversationListOut(items=[], next_cursor=None, since=since, has_more=False)
        return ConversationList(etag=etag, page=empty)

    # Read before the rows: the rows are at least this recent, so `since` skips nothing.
    known = state.from_postgres
    version = known if known is not None else await inbox_cache.version_in_postgres(user_id)
    if since_position is not None:
        rows = await _changed_rows(user_id, after=int(since_position["v"]), limit=limit)
        has_more = len(rows) > limit
        shown = rows[:limit]
        last = max([version, *(int(row["my_version"]) for row in shown)])
        page = ConversationListOut(
            items=await conversation_outs(storage, shown),
            next_cursor=None,
            since=since_cursors.encode({"v": int(shown[-1]["my_version"]) if has_more else last}),
            has_more=has_more,
        )
        return ConversationList(etag=etag, page=page)

    cursors = Cursors(settings, "conversations")
    rows = await _inbox_rows(user_id, position=cursors.decode(cursor), limit=limit)
    page = ConversationListOut(
        items=await conversation_outs(storage, rows[:limit]),
        next_cursor=cursors.next_cursor(
            rows,
            limit,
            lambda row: {"at": row["last_activity_at"].isoformat(), "id": str(row["id"])},
        ),
        since=since_cursors.encode({"v": version}),
        has_more=False,
    )
    return ConversationList(etag=etag, page=page)


def _since_position(cursors: Cursors, since: str | None) -> dict[str, Any] | None:
    try:
        return cursors.decode(since)
    except ValidationFailed:
        raise ValidationFailed(
            "This since value is not valid. Load the list again without it.", field="since"
        ) from None


async def _inbox_rows(
    user_id: UUID, *, position: dict[str, Any] | None, limit: int
) -> list[dict[str, Any]]:
    """`limit + 1` conversations newest activity first: one index walk per side, merged."""
    after, values = "", []
    if position is not None:
        after = " AND (c.last_activity_at, c.id) < ({}, {})"
        values = [datetime.fromisoformat(position["at"]), UUID(position["id"])]
    branches = [
        f"({side_sql(side)}{after} ORDER BY c.last_activity_at DESC, c.id DESC LIMIT {{}})"
        for side in (1, 2)
    ]
    rows: list[dict[str, Any]] = await Conversation.raw(
        f"SELECT * FROM ({' UNION ALL '.join(branches)}) t"
        " ORDER BY t.last_activity_at DESC, t.id DESC LIMIT {}",
        *([user_id, *values, limit + 1] * 2),
        limit + 1,
    )
    return rows


async def _changed_rows(user_id: UUID, *, after: int, limit: int) -> list[dict[str, Any]]:
    """`limit + 1` conversations changed for the user after version `after`, oldest change first."""
    branches = [
        f"({side_sql(side)} AND c.version_{side} > {{}} ORDER BY c.version_{side} LIMIT {{}})"
        for side in (1, 2)
    ]
    rows: list[dict[str, Any]] = await Conversation.raw(
        f"SELECT * FROM ({' UNION ALL '.join(branches)}) t ORDER BY t.my_version LIMIT {{}}",
        *([user_id, after, limit + 1] * 2),
        limit + 1,
    )
    return rows
