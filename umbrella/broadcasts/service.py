"""Fan broadcasts (D-049: text only): create, preview, history, cancel, and scheduled starts.

A broadcast is written, in one transaction, with one delivery row per recipient and
channel; the engine (`delivery.py`, run by the `send_broadcast` job) sends them. A
scheduled one waits for the `broadcasts-scheduled` cron, which also re-queues a broadcast
whose job was lost. docs/broadcasts.md has the rules.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from umbrella import jobs
from umbrella.broadcasts.delivery import SEND_JOB
from umbrella.broadcasts.schemas import (
    BroadcastHistoryOut,
    BroadcastIn,
    BroadcastOut,
    DeliveryCountsOut,
    PreviewOut,
    RecipientsOut,
    SmsCostOut,
    includes_email,
    includes_sms,
)
from umbrella.broadcasts.segments import count_segments
from umbrella.broadcasts.timing import claim_lease, utcnow
from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.errors import Conflict, NotFound, ValidationFailed
from umbrella.core.pagination import ListPage, Pager
from umbrella.core.sql import Conditions
from umbrella.integrations.sms import MAX_BODY_CHARS
from umbrella.notifications.templates import broadcast_sms
from umbrella.piccolo_conf import DB

log = logging.getLogger(__name__)

# The columns of a channel: fixed names, never user input.
_ADDRESS = {"email": "email", "sms": "phone"}
_OPT_IN = {"email": "email_opt_in", "sms": "sms_opt_in"}
# Opt-outs counted as "unsubscribed since" (a bounce is not the fan's choice).
_OPT_OUT_REASONS = ("unsubscribe", "stop", "complaint")


# -- who a broadcast reaches ------------------------------------------------------------------


def _audience_sql(channel: str, *, list_ids: str, artist_id: str) -> str:
    """Members of the lists opted in for `channel`, minus the artist's suppressions, one row
    per address (the earliest member wins). `list_ids` and `artist_id` are the placeholders
    (`$n`) the statement around it binds them to."""
    address, opt_in = _ADDRESS[channel], _OPT_IN[channel]
    return (
        f"SELECT DISTINCT ON (m.{address}) m.id AS member_id, m.{address} AS address"
        " FROM contact_list_members m"
        f" WHERE m.list_id = ANY({list_ids}::uuid[]) AND m.{opt_in} AND m.{address} IS NOT NULL"
        f" AND NOT EXISTS (SELECT 1 FROM fan_suppressions s WHERE s.artist_id = {artist_id}"
        f" AND s.channel = '{channel}' AND s.address = m.{address})"
        f" ORDER BY m.{address}, m.created_at, m.id"
    )


def _channels_of(channels: str) -> list[str]:
    return [
        c for c, on in (("email", includes_email(channels)), ("sms", includes_sms(channels))) if on
    ]


@dataclass(frozen=True)
class _Sender:
    artist_id: UUID
    name: str


async def _sender(caller: Caller) -> _Sender:
    artist_id = await caller.require_artist()
    rows = await db.fetch("SELECT stage_name FROM artists WHERE id = $1", artist_id)
    return _Sender(artist_id=artist_id, name=str(rows[0]["stage_name"]))


async def _check_lists(artist_id: UUID, list_ids: Sequence[UUID]) -> None:
    rows = await db.fetch(
        "SELECT id FROM contact_lists WHERE artist_id = $1 AND id = ANY($2::uuid[])",
        artist_id,
        list(list_ids),
    )
    if len(rows) != len(list_ids):
        # Another artist's list is as unknown to the caller as one that never existed.
        raise NotFound("No such contact list.", field="list_ids")


def _sms_text(sender: _Sender, body: str) -> str:
    text = broadcast_sms(artist_name=sender.name, body=body)
    if len(text) > MAX_BODY_CHARS:
        raise ValidationFailed(
            f"The text is {len(text):,} characters with your name and the opt-out words"
            f" added; it must be at most {MAX_BODY_CHARS:,}.",
            field="body",
        )
    return text


async def _validated(*, caller: Caller, broadcast: BroadcastIn) -> _Sender:
    sender = await _sender(caller)
    await _check_lists(sender.artist_id, broadcast.list_ids)
    if includes_sms(broadcast.channels):
        _sms_text(sender, broadcast.body)
    return sender


async def _recipient_counts(
    *, artist_id: UUID, list_ids: Sequence[UUID], channels: str
) -> RecipientsOut:
    counts = {"email": 0, "sms": 0}
    for channel in _channels_of(channels):
        audience = _audience_sql(channel, list_ids="$1", artist_id="$2")
        rows = await db.fetch(
            f"SELECT count(*) AS n FROM ({audience}) a", list(list_ids), artist_id
        )
        counts[channel] = int(rows[0]["n"])
    return RecipientsOut(
        email=counts["email"], sms=counts["sms"], total=counts["email"] + counts["sms"]
    )


async def preview_broadcast(
    *, settings: Settings, caller: Caller, broadcast: BroadcastIn
) -> PreviewOut:
    """What a broadcast would reach and cost, counted as a send would; nothing is written."""
    sender = await _validated(caller=caller, broadcast=broadcast)
    recipients = await _recipient_counts(
        artist_id=sender.artist_id, list_ids=broadcast.list_ids, channels=broadcast.channels
    )
    sms: SmsCostOut | None = None
    if includes_sms(broadcast.channels):
        text = _sms_text(sender, broadcast.body)
        count = count_segments(text)
        price = settings.sms_price_per_segment
        total = count.segments * recipients.sms
        sms = SmsCostOut(
            text=text,
            encoding=count.encoding,
            characters=len(text),
            segments=count.segments,
            total_segments=total,
            price_per_segment=price,
            estimated_cost=(price * total).quantize(Decimal("0.01")),
        )
    return PreviewOut(recipients=recipients, sms=sms)


async def create_broadcast(*, caller: Caller, broadcast: BroadcastIn) -> BroadcastOut:
    """Record a broadcast with one delivery per recipient and channel; send now or at `send_at`."""
    sender = await _validated(caller=caller, broadcast=broadcast)
    now = utcnow()
    broadcast_id = uuid4()
    scheduled = broadcast.send_at is not None
    async with DB.transaction():
        await db.fetch(
            "INSERT INTO broadcast_messages (id, artist_id, subject, body, channels, status,"
            " scheduled_at, started_at, from_name, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            broadcast_id,
            sender.artist_id,
            broadcast.subject if includes_email(broadcast.channels) else None,
            broadcast.body,
            broadcast.channels,
            "scheduled" if scheduled else "sending",
            broadcast.send_at,
            None if scheduled else now,
            sender.name[:100],
            now,
            now,
        )
        await db.fetch(
            "INSERT INTO broadcast_lists (broadcast_id, list_id) SELECT $1, unnest($2::uuid[])",
            broadcast_id,
            list(broadcast.list_ids),
        )
        for channel in _channels_of(broadcast.channels):
            audience = _audience_sql(channel, list_ids="$3", artist_id="$4")
            await db.fetch(
                "INSERT INTO broadcast_deliveries (broadcast_id, member_id, channel, address,"
                " created_at, updated_at)"
                f" SELECT $1, a.member_id, '{channel}', a.address, $2, $2 FROM ({audience}) a",
                broadcast_id,
                now,
                list(broadcast.list_ids),
                sender.artist_id,
            )
        await db.fetch(
            "UPDATE broadcast_messages SET recipient_count ="
            " (SELECT count(*) FROM broadcast_deliveries WHERE broadcast_id = $1) WHERE id = $2",
            broadcast_id,
            broadcast_id,
        )
        if not scheduled:
            await jobs.enqueue(SEND_JOB, {"broadcast_id": str(broadcast_id)})
    log.info(
        "broadcast created",
        extra={
            "broadcast_id": broadcast_id,
            "channels": broadcast.channels,
            "scheduled": scheduled,
        },
    )
    return (await _broadcast_outs(sender.artist_id, [broadcast_id]))[0]


_BROADCAST_COLUMNS = (
    "b.id, b.channels, b.subject, b.body, b.status, b.recipient_count, b.scheduled_at,"
    " b.started_at, b.sent_at, b.cancelled_at, b.created_at,"
    " ARRAY(SELECT l.list_id FROM broadcast_lists l WHERE l.broadcast_id = b.id"
    " ORDER BY l.list_id) AS list_ids"
)


def _broadcast_out(row: dict[str, Any]) -> BroadcastOut:
    return BroadcastOut.model_validate({**row, "list_ids": list(row["list_ids"] or [])})


async def _broadcast_outs(artist_id: UUID, ids: Sequence[UUID]) -> list[BroadcastOut]:
    rows = await db.fetch(
        f"SELECT {_BROADCAST_COLUMNS} FROM broadcast_messages b"
        " WHERE b.artist_id = $1 AND b.id = ANY($2::uuid[])",
        artist_id,
        list(ids),
    )
    return [_broadcast_out(row) for row in rows]


async def list_history(
    *, settings: Settings, caller: Caller, cursor: str | None, limit: int
) -> ListPage[BroadcastHistoryOut]:
    """The caller's broadcasts, newest first, each with its delivery counts."""
    artist_id = await caller.require_artist()
    pager = Pager(settings, "broadcasts", cursor=cursor, limit=limit)
    where = Conditions()
    where.param(utcnow())  # $1 and $2 of the counts below
    where.param(list(_OPT_OUT_REASONS))
    where.add("b.artist_id = {}", artist_id)
    pager.narrow(where, alias="b")
    # $1 (now) and $2 (the opt-out reasons) come before the conditions; the limit is last.
    rows = await db.fetch(
        f"SELECT {_BROADCAST_COLUMNS}, c.*, coalesce(u.unsubscribed, 0) AS unsubscribed_since"
        " FROM broadcast_messages b"
        " LEFT JOIN LATERAL (SELECT"
        "  count(*) FILTER (WHERE d.status = 'sent') AS sent,"
        "  count(*) FILTER (WHERE d.status = 'failed') AS failed,"
        "  count(*) FILTER (WHERE d.status = 'skipped') AS skipped,"
        "  count(*) FILTER (WHERE d.status = 'pending' AND d.not_before > $1) AS deferred,"
        "  count(*) FILTER (WHERE d.status = 'sending'"
        "   OR (d.status = 'pending' AND (d.not_before IS NULL OR d.not_before <= $1))) AS pending"
        "  FROM broadcast_deliveries d WHERE d.broadcast_id = b.id) c ON true"
        " LEFT JOIN LATERAL (SELECT count(*) AS unsubscribed"
        "  FROM broadcast_deliveries d JOIN fan_suppressions s ON s.artist_id = b.artist_id"
        "   AND s.channel = d.channel AND s.address = d.address"
        "  WHERE d.broadcast_id = b.id AND b.started_at IS NOT NULL"
        "   AND s.created_at >= b.started_at AND s.reason = ANY($2::text[])) u ON true"
        f" WHERE {where.sql} ORDER BY {pager.order_by('b')} LIMIT {where.param(pager.fetch)}",
        *where.values,
    )
    return pager.page(rows, _history_out)


def _history_out(row: dict[str, Any]) -> BroadcastHistoryOut:
    return BroadcastHistoryOut(
        **_broadcast_out(row).model_dump(),
        counts=DeliveryCountsOut(
            sent=row["sent"],
            failed=row["failed"],
            pending=row["pending"],
            deferred=row["deferred"],
            skipped=row["skipped"],
            unsubscribed_since=row["unsubscribed_since"],
        ),
    )


async def cancel_broadcast(*, caller: Caller, broadcast_id: UUID) -> BroadcastOut:
    """Cancel a scheduled broadcast, or the part of a running one not yet sent (skipped)."""
    artist_id = await caller.require_artist()
    now = utcnow()
    async with DB.transaction():
        rows = await db.fetch(
            "SELECT status FROM broadcast_messages WHERE id = $1 AND artist_id = $2 FOR UPDATE",
            broadcast_id,
            artist_id,
        )
        if not rows:
            raise NotFound("No such broadcast.", field="broadcast_id")
        if rows[0]["status"] not in ("scheduled", "sending"):
            raise Conflict(
                f"This broadcast is {rows[0]['status']}: only a scheduled or sending one"
                " can be cancelled.",
                field="broadcast_id",
            )
        await db.fetch(
            "UPDATE broadcast_messages SET status = 'cancelled', cancelled_at = $1,"
            " updated_at = $2 WHERE id = $3",
            now,
            now,
            broadcast_id,
        )
        # Rows a worker holds ('sending') are already on their way; the rest never go.
        await db.fetch(
            "UPDATE broadcast_deliveries SET status = 'skipped', last_error = 'cancelled',"
            " updated_at = $1 WHERE broadcast_id = $2 AND status = 'pending'",
            now,
            broadcast_id,
        )
    return (await _broadcast_outs(artist_id, [broadcast_id]))[0]


# -- scheduled starts (cron) ------------------------------------------------------------------


async def start_due_broadcasts(*, now: datetime | None = None) -> list[UUID]:
    """Start every scheduled broadcast whose time has come, each exactly once."""
    now = now or utcnow()
    async with DB.transaction():
        # The status flip is the claim: of two overlapping runs only one sees 'scheduled'.
        rows = await db.fetch(
            "UPDATE broadcast_messages SET status = 'sending', started_at = $1, updated_at = $2"
            " WHERE status = 'scheduled' AND scheduled_at <= $3 RETURNING id",
            now,
            now,
            now,
        )
        ids = [UUID(str(row["id"])) for row in rows]
        for broadcast_id in ids:
            await jobs.enqueue(SEND_JOB, {"broadcast_id": str(broadcast_id)})
    return ids


async def resume_stalled_broadcasts(
    *, settings: Settings, now: datetime | None = None
) -> list[UUID]:
    """Queue a delivery job for each broadcast with due work that no worker has touched
    for a lease (its job was lost with a worker); an extra job is harmless."""
    now = now or utcnow()
    cutoff = now - claim_lease(settings)
    rows = await db.fetch(
        "SELECT b.id FROM broadcast_messages b"
        " WHERE b.status IN ('sending', 'cancelled') AND b.started_at < $1"
        " AND NOT EXISTS (SELECT 1 FROM broadcast_deliveries d WHERE d.broadcast_id = b.id"
        "  AND d.claimed_at >= $2)"
        " AND (EXISTS (SELECT 1 FROM broadcast_deliveries d WHERE d.broadcast_id = b.id"
        "   AND ((d.status = 'pending' AND b.status = 'sending') OR (d.status = 'sending'"
        "    AND (d.claimed_at IS NULL OR d.claimed_at < $3)))"
        "   AND (d.not_before IS NULL OR d.not_before <= $4))"
        "  OR (b.status = 'sending' AND NOT EXISTS (SELECT 1 FROM broadcast_deliveries d"
        "   WHERE d.broadcast_id = b.id AND d.status IN ('pending', 'sending'))))",
        cutoff,
        cutoff,
        cutoff,
        now,
    )
    ids = [UUID(str(row["id"])) for row in rows]
    for broadcast_id in ids:
        await jobs.enqueue(SEND_JOB, {"broadcast_id": str(broadcast_id)})
    return ids
