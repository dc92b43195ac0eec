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
from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.errors import ValidationFailed
from umbrella.core.pagination import Cursors, Keyset, Pager
from umbrella.core.sql import Conditions
from umbrella.core.storage import Storage
from umbrella.messaging import cache as inbox_cache
from umbrella.messaging.schemas import ConversationListOut
from umbrella.messaging.service import conversation_outs, side_sql
from umbrella.observability.metrics import Metrics

# The inbox goes by latest activity; the cursor keeps the key "at" it always had.
BY_ACTIVITY = Keyset("last_activity_at", "at", descending=True, parse=datetime.fromisoformat)


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
    caller: Caller,
    since: str | None,
    cursor: str | None,
    limit: int,
    if_none_match: str | None,
) -> ConversationList:
    """The inbox newest first, or what changed since a poll; nothing (304) if it is current."""
    user_id = caller.user_id
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

    pager = Pager(settings, "conversations", cursor=cursor, limit=limit, keyset=BY_ACTIVITY)
    inbox = pager.page(await _inbox_rows(user_id, pager), lambda row: row)
    page = ConversationListOut(
        items=await conversation_outs(storage, inbox.items),
        next_cursor=inbox.next_cursor,
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


async def _inbox_rows(user_id: UUID, pager: Pager) -> list[dict[str, Any]]:
    """A page's conversations newest activity first: one index walk per side, merged."""
    # The user and the row count are bound once and used in both branches.
    after = Conditions()
    user = after.param(user_id)
    pager.narrow(after, alias="c")
    narrowed = after.sql  # `true` on the first page
    fetch = after.param(pager.fetch)
    branches = [
        f"({side_sql(side, user=user)} AND {narrowed} ORDER BY {pager.order_by('c')} LIMIT {fetch})"
        for side in (1, 2)
    ]
    return await db.fetch(
        f"SELECT * FROM ({' UNION ALL '.join(branches)}) t"
        f" ORDER BY {pager.order_by('t')} LIMIT {fetch}",
        *after.values,
    )


async def _changed_rows(user_id: UUID, *, after: int, limit: int) -> list[dict[str, Any]]:
    """`limit + 1` conversations changed for the user after version `after`, oldest change first."""
    # The same three values in both branches: $1 the user, $2 the version, $3 the row count.
    branches = [
        f"({side_sql(side, user='$1')} AND c.version_{side} > $2"
        f" ORDER BY c.version_{side} LIMIT $3)"
        for side in (1, 2)
    ]
    return await db.fetch(
        f"SELECT * FROM ({' UNION ALL '.join(branches)}) t ORDER BY t.my_version LIMIT $3",
        user_id,
        after,
        limit + 1,
    )
