"""Fan broadcasts (D-049: text only): create, preview, history, cancel, and the delivery engine.

A broadcast fans out, in the transaction that creates it, to one delivery row per
recipient and channel. The engine (`deliver_broadcast`, run by the `send_broadcast` job)
claims rows (pending -> sending, `FOR UPDATE SKIP LOCKED`), sends, and marks each one
sent or failed. A claim older than the lease belongs to a dead worker and is taken over:
an email batch is re-sent with the same rows and the same Idempotency-Key, so Resend sends
it once; a text is marked right after its API call, so only a text in flight when a
worker died can go out twice. docs/broadcasts.md has the whole argument.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from umbrella.artists import service as artists_service
from umbrella.config import Settings
from umbrella.core import jobs
from umbrella.core.sql import Conditions
from umbrella.fans.broadcast_schemas import (
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
from umbrella.fans.segments import count_segments
from umbrella.fans.tables import BroadcastDelivery, BroadcastMessage
from umbrella.fans.unsubscribe import unsubscribe_url
from umbrella.integrations.base import ProviderError
from umbrella.integrations.email import BATCH_LIMIT, EmailMessage, EmailSender
from umbrella.integrations.sms import MAX_BODY_CHARS, SmsMessage, SmsSender
from umbrella.notifications.templates import broadcast_email, broadcast_sms
from umbrella.piccolo_conf import DB
from umbrella.web.errors import Conflict, NotFound, ValidationFailed
from umbrella.web.pagination import Cursors, add_newest_first, newest_first_position

log = logging.getLogger(__name__)

SEND_JOB = "send_broadcast"
Clock = Callable[[], datetime]

# SMS quiet hours (ours): texts go out from 08:00 to 21:00 in the recipient's zone, else
# the artist's, else UTC; a text due outside them waits for 08:00 (deferred, not dropped).
WINDOW_OPENS = time(8, 0)
WINDOW_CLOSES = time(21, 0)
DEFAULT_ZONE = "UTC"
# Texts in flight at once per job: each is claimed just before its call, so a claim's age
# stays within the limiter's wait for a handful of slots plus one call.
SMS_LANES = 8
# Rows looked at per pass when picking texts: the ones deferred or skipped cost no call.
SMS_SCAN = 200
MAX_ERROR_LENGTH = 1000
# A retry waits between (1 - JITTER) and all of its backoff.
JITTER = 0.5
# A job that found rows held by another worker comes back no sooner than this.
MIN_REVISIT = timedelta(seconds=1)

# The columns of a channel: fixed names, never user input.
_ADDRESS = {"email": "email", "sms": "phone"}
_OPT_IN = {"email": "email_opt_in", "sms": "sms_opt_in"}
# Opt-outs counted as "unsubscribed since" (a bounce is not the fan's choice).
_OPT_OUT_REASONS = ("unsubscribe", "stop", "complaint")


def utcnow() -> datetime:
    return datetime.now(UTC)


def claim_lease(settings: Settings) -> timedelta:
    """How old a claim must be to belong to a dead worker: a live one marks its rows within
    one provider timeout (plus the limiter's short wait), so twice that is ample."""
    return timedelta(
        seconds=2 * max(settings.email_timeout_seconds, settings.sms_timeout_seconds) + 2
    )


def _backoff_seconds(settings: Settings, attempts: int) -> float:
    """The un-jittered wait after the n-th failed try: base, twice it, four times … capped."""
    exponent = min(max(attempts - 1, 0), 60)  # 2**60 times the base is past any cap
    backoff: float = settings.broadcast_retry_base_seconds * 2.0**exponent
    return min(backoff, settings.broadcast_retry_max_delay_seconds)


def retry_delay(settings: Settings, attempts: int) -> timedelta:
    """The wait after the n-th failed try: the backoff with jitter (half to all of it), so
    the batches and texts of a provider outage do not all come back in the same second."""
    backoff = _backoff_seconds(settings, attempts)
    return timedelta(seconds=backoff * random.uniform(1 - JITTER, 1.0))  # noqa: S311


def delivery_attempts(settings: Settings) -> int:
    """Tries of one delivery before it fails: enough that even the shortest jittered waits
    add up to the retry horizon (an hour by default), so an outage that long is ridden out."""
    attempts, waited = 1, 0.0
    while waited < settings.broadcast_retry_horizon_seconds:
        waited += _backoff_seconds(settings, attempts) * (1 - JITTER)
        attempts += 1
    return attempts


# -- who a broadcast reaches ------------------------------------------------------------------


def _audience_sql(channel: str) -> str:
    """Members of the lists opted in for `channel`, minus the artist's suppressions, one row
    per address (the earliest member wins). Placeholders: list ids, artist id."""
    address, opt_in = _ADDRESS[channel], _OPT_IN[channel]
    return (
        f"SELECT DISTINCT ON (m.{address}) m.id AS member_id, m.{address} AS address"
        " FROM contact_list_members m"
        f" WHERE m.list_id = ANY({{}}::uuid[]) AND m.{opt_in} AND m.{address} IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM fan_suppressions s WHERE s.artist_id = {}"
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


async def _sender(*, user_id: UUID, role: str) -> _Sender:
    artist_id = await artists_service.get_own_artist_id(user_id=user_id, role=role)
    rows = await BroadcastMessage.raw("SELECT stage_name FROM artists WHERE id = {}", artist_id)
    return _Sender(artist_id=artist_id, name=str(rows[0]["stage_name"]))


async def _check_lists(artist_id: UUID, list_ids: Sequence[UUID]) -> None:
    rows = await BroadcastMessage.raw(
        "SELECT id FROM contact_lists WHERE artist_id = {} AND id = ANY({}::uuid[])",
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


async def _validated(*, user_id: UUID, role: str, broadcast: BroadcastIn) -> _Sender:
    sender = await _sender(user_id=user_id, role=role)
    await _check_lists(sender.artist_id, broadcast.list_ids)
    if includes_sms(broadcast.channels):
        _sms_text(sender, broadcast.body)
    return sender


async def _recipient_counts(
    *, artist_id: UUID, list_ids: Sequence[UUID], channels: str
) -> RecipientsOut:
    counts = {"email": 0, "sms": 0}
    for channel in _channels_of(channels):
        rows = await BroadcastMessage.raw(
            f"SELECT count(*) AS n FROM ({_audience_sql(channel)}) a", list(list_ids), artist_id
        )
        counts[channel] = int(rows[0]["n"])
    return RecipientsOut(
        email=counts["email"], sms=counts["sms"], total=counts["email"] + counts["sms"]
    )


async def preview_broadcast(
    *, settings: Settings, user_id: UUID, role: str, broadcast: BroadcastIn
) -> PreviewOut:
    """What a broadcast would reach and cost, counted as a send would; nothing is written."""
    sender = await _validated(user_id=user_id, role=role, broadcast=broadcast)
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


async def create_broadcast(*, user_id: UUID, role: str, broadcast: BroadcastIn) -> BroadcastOut:
    """Record a broadcast with one delivery per recipient and channel; send now or at `send_at`."""
    sender = await _validated(user_id=user_id, role=role, broadcast=broadcast)
    now = utcnow()
    broadcast_id = uuid4()
    scheduled = broadcast.send_at is not None
    async with DB.transaction():
        await BroadcastMessage.raw(
            "INSERT INTO broadcast_messages (id, artist_id, subject, body, channels, status,"
            " scheduled_at, started_at, from_name, created_at, updated_at)"
            " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
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
        await BroadcastMessage.raw(
            "INSERT INTO broadcast_lists (broadcast_id, list_id) SELECT {}, unnest({}::uuid[])",
            broadcast_id,
            list(broadcast.list_ids),
        )
        for channel in _channels_of(broadcast.channels):
            await BroadcastDelivery.raw(
                "INSERT INTO broadcast_deliveries (broadcast_id, member_id, channel, address,"
                " created_at, updated_at)"
                f" SELECT {{}}, a.member_id, '{channel}', a.address, {{}}, {{}}"
                f" FROM ({_audience_sql(channel)}) a",
                broadcast_id,
                now,
                now,
                list(broadcast.list_ids),
                sender.artist_id,
            )
        await BroadcastMessage.raw(
            "UPDATE broadcast_messages SET recipient_count ="
            " (SELECT count(*) FROM broadcast_deliveries WHERE broadcast_id = {}) WHERE id = {}",
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
    rows = await BroadcastMessage.raw(
        f"SELECT {_BROADCAST_COLUMNS} FROM broadcast_messages b"
        " WHERE b.artist_id = {} AND b.id = ANY({}::uuid[])",
        artist_id,
        list(ids),
    )
    return [_broadcast_out(row) for row in rows]


async def list_history(
    *, settings: Settings, user_id: UUID, role: str, cursor: str | None, limit: int
) -> dict[str, Any]:
    """The caller's broadcasts, newest first, each with its delivery counts."""
    artist_id = await artists_service.get_own_artist_id(user_id=user_id, role=role)
    cursors = Cursors(settings, "broadcasts")
    position = cursors.decode(cursor)
    where = Conditions()
    where.add("b.artist_id = {}", artist_id)
    add_newest_first(where, position, alias="b")
    now = utcnow()
    rows = await BroadcastMessage.raw(
        f"SELECT {_BROADCAST_COLUMNS}, c.*, coalesce(u.unsubscribed, 0) AS unsubscribed_since"
        " FROM broadcast_messages b"
        " LEFT JOIN LATERAL (SELECT"
        "  count(*) FILTER (WHERE d.status = 'sent') AS sent,"
        "  count(*) FILTER (WHERE d.status = 'failed') AS failed,"
        "  count(*) FILTER (WHERE d.status = 'skipped') AS skipped,"
        "  count(*) FILTER (WHERE d.status = 'pending' AND d.not_before > {}) AS deferred,"
        "  count(*) FILTER (WHERE d.status = 'sending'"
        "   OR (d.status = 'pending' AND (d.not_before IS NULL OR d.not_before <= {}))) AS pending"
        "  FROM broadcast_deliveries d WHERE d.broadcast_id = b.id) c ON true"
        " LEFT JOIN LATERAL (SELECT count(*) AS unsubscribed"
        "  FROM broadcast_deliveries d JOIN fan_suppressions s ON s.artist_id = b.artist_id"
        "   AND s.channel = d.channel AND s.address = d.address"
        "  WHERE d.broadcast_id = b.id AND b.started_at IS NOT NULL"
        "   AND s.created_at >= b.started_at AND s.reason = ANY({}::text[])) u ON true"
        f" WHERE {where.sql} ORDER BY b.created_at DESC, b.id DESC LIMIT {{}}",
        now,
        now,
        list(_OPT_OUT_REASONS),
        *where.values,
        limit + 1,
    )
    items = [
        BroadcastHistoryOut(
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
        for row in rows[:limit]
    ]
    return {
        "items": items,
        "next_cursor": cursors.next_cursor(rows, limit, newest_first_position),
    }


async def cancel_broadcast(*, user_id: UUID, role: str, broadcast_id: UUID) -> BroadcastOut:
    """Cancel a scheduled broadcast, or the part of a running one not yet sent (skipped)."""
    artist_id = await artists_service.get_own_artist_id(user_id=user_id, role=role)
    now = utcnow()
    async with DB.transaction():
        rows = await BroadcastMessage.raw(
            "SELECT status FROM broadcast_messages WHERE id = {} AND artist_id = {} FOR UPDATE",
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
        await BroadcastMessage.raw(
            "UPDATE broadcast_messages SET status = 'cancelled', cancelled_at = {},"
            " updated_at = {} WHERE id = {}",
            now,
            now,
            broadcast_id,
        )
        # Rows a worker holds ('sending') are already on their way; the rest never go.
        await BroadcastDelivery.raw(
            "UPDATE broadcast_deliveries SET status = 'skipped', last_error = 'cancelled',"
            " updated_at = {} WHERE broadcast_id = {} AND status = 'pending'",
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
        rows = await BroadcastMessage.raw(
            "UPDATE broadcast_messages SET status = 'sending', started_at = {}, updated_at = {}"
            " WHERE status = 'scheduled' AND scheduled_at <= {} RETURNING id",
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
    rows = await BroadcastMessage.raw(
        "SELECT b.id FROM broadcast_messages b"
        " WHERE b.status IN ('sending', 'cancelled') AND b.started_at < {}"
        " AND NOT EXISTS (SELECT 1 FROM broadcast_deliveries d WHERE d.broadcast_id = b.id"
        "  AND d.claimed_at >= {})"
        " AND (EXISTS (SELECT 1 FROM broadcast_deliveries d WHERE d.broadcast_id = b.id"
        "   AND ((d.status = 'pending' AND b.status = 'sending') OR (d.status = 'sending'"
        "    AND (d.claimed_at IS NULL OR d.claimed_at < {})))"
        "   AND (d.not_before IS NULL OR d.not_before <= {}))"
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


# -- the delivery engine -----------------------------------------------------------------------


def zone_of(name: str | None) -> ZoneInfo | None:
    """The IANA zone of that name, or None when it is unset or unknown."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def quiet_until(now: datetime, zone: ZoneInfo) -> datetime | None:
    """None when a text may go at `now` in `zone`; else the UTC time the window next opens."""
    local = now.astimezone(zone)
    if WINDOW_OPENS <= local.time() < WINDOW_CLOSES:
        return None
    day = local.date() if local.time() < WINDOW_OPENS else local.date() + timedelta(days=1)
    return datetime.combine(day, WINDOW_OPENS, tzinfo=zone).astimezone(UTC)


def batch_key(broadcast_id: UUID, delivery_ids: Sequence[UUID]) -> str:
    """The Idempotency-Key of an email batch: the broadcast and exactly its rows."""
    digest = hashlib.sha256(",".join(sorted(str(i) for i in delivery_ids)).encode()).hexdigest()
    return f"b{broadcast_id.hex}-{digest[:30]}"  # 64 characters: the column's width


@dataclass(frozen=True)
class _Broadcast:
    id: UUID
    artist_id: UUID
    status: str
    subject: str | None
    body: str
    from_name: str
    artist_zone: ZoneInfo


@dataclass(frozen=True)
class _Run:
    """One pass of the engine over one broadcast."""

    settings: Settings
    email: EmailSender
    sms: SmsSender
    clock: Clock
    broadcast: _Broadcast

    @property
    def lease(self) -> timedelta:
        return claim_lease(self.settings)

    @property
    def max_attempts(self) -> int:
        return delivery_attempts(self.settings)


async def _load(broadcast_id: UUID) -> _Broadcast | None:
    rows = await BroadcastMessage.raw(
        "SELECT b.id, b.artist_id, b.status, b.subject, b.body,"
        " coalesce(b.from_name, a.stage_name) AS from_name, a.timezone"
        " FROM broadcast_messages b JOIN artists a ON a.id = b.artist_id WHERE b.id = {}",
        broadcast_id,
    )
    if not rows:
        return None
    row = rows[0]
    return _Broadcast(
        id=row["id"],
        artist_id=row["artist_id"],
        status=row["status"],
        subject=row["subject"],
        body=row["body"],
        from_name=row["from_name"],
        artist_zone=zone_of(row["timezone"]) or ZoneInfo(DEFAULT_ZONE),
    )


async def deliver_broadcast(
    *,
    settings: Settings,
    email: EmailSender,
    sms: SmsSender,
    broadcast_id: UUID,
    clock: Clock = utcnow,
) -> datetime | None:
    """Send every delivery of a broadcast that is due; return when to come back (None: done)."""
    broadcast = await _load(broadcast_id)
    if broadcast is None or broadcast.status not in ("sending", "cancelled"):
        return None
    run = _Run(settings=settings, email=email, sms=sms, clock=clock, broadcast=broadcast)
    while await _email_pass(run):
        pass
    while await _sms_pass(run):
        pass
    return await _finish_or_next(run)


# -- email --------------------------------------------------------------------------------------


def _due(alias: str = "d") -> str:
    return f"({alias}.not_before IS NULL OR {alias}.not_before <= {{}})"


async def _email_pass(run: _Run) -> bool:
    """Claim and send one email batch; False when none is due."""
    claimed = await _claim_email_batch(run)
    if claimed is None:
        return False
    key, rows = claimed
    await _send_email_batch(run, key, rows)
    return True


async def _claim_email_batch(run: _Run) -> tuple[str, list[dict[str, Any]]] | None:
    now = run.clock()
    cutoff = now - run.lease
    b = run.broadcast
    async with DB.transaction():
        # First a batch a dead worker left half-done: the same rows under the same key.
        stale = await BroadcastDelivery.raw(
            "SELECT DISTINCT d.batch_key FROM broadcast_deliveries d WHERE d.broadcast_id = {}"
            " AND d.channel = 'email' AND d.status = 'sending'"
            f" AND (d.claimed_at IS NULL OR d.claimed_at < {{}}) AND {_due()} LIMIT 10",
            b.id,
            cutoff,
            now,
        )
        for candidate in stale:
            key = str(candidate["batch_key"])
            # One taker per batch, without waiting on (or deadlocking with) another.
            locked = await BroadcastDelivery.raw(
                "SELECT pg_try_advisory_xact_lock(hashtextextended({}, 0)) AS ok", key
            )
            if not locked[0]["ok"]:
                continue
            rows = await BroadcastDelivery.raw(
                "UPDATE broadcast_deliveries SET claimed_at = {}, attempts = attempts + 1,"
                " updated_at = {} WHERE broadcast_id = {} AND batch_key = {}"
                " AND status = 'sending' AND (claimed_at IS NULL OR claimed_at < {})"
                " RETURNING id, address, attempts",
                now,
                now,
                b.id,
                key,
                cutoff,
            )
            if rows:
                return key, sorted(rows, key=lambda row: str(row["id"]))
        if b.status != "sending":
            return None
        picked = await BroadcastDelivery.raw(
            "SELECT d.id, d.address,"
            " (d.member_id IS NULL OR NOT coalesce(m.email_opt_in, false) OR EXISTS ("
            "  SELECT 1 FROM fan_suppressions s WHERE s.artist_id = {} AND s.channel = 'email'"
            "  AND s.address = d.address)) AS blocked"
            " FROM broadcast_deliveries d LEFT JOIN contact_list_members m ON m.id = d.member_id"
            " WHERE d.broadcast_id = {} AND d.channel = 'email' AND d.status = 'pending'"
            f" AND {_due()} AND EXISTS (SELECT 1 FROM broadcast_messages b"
            "  WHERE b.id = d.broadcast_id AND b.status = 'sending')"
            " ORDER BY d.id LIMIT {} FOR UPDATE OF d SKIP LOCKED",
            b.artist_id,
            b.id,
            now,
            BATCH_LIMIT,
        )
        if not picked:
            return None
        # STOP, unsubscribe and opt-outs since the broadcast was created win over it.
        blocked = [row["id"] for row in picked if row["blocked"]]
        await _mark_skipped(blocked, now, "unsubscribed or opted out before sending")
        invalid = [row["id"] for row in picked if not row["blocked"] and _bad_email(row)]
        await _mark_failed(invalid, now, "not a deliverable email address")
        sendable = [row for row in picked if not row["blocked"] and row["id"] not in invalid]
        if not sendable:
            return "", []
        ids = [row["id"] for row in sendable]
        key = batch_key(b.id, ids)
        rows = await BroadcastDelivery.raw(
            "UPDATE broadcast_deliveries SET status = 'sending', claimed_at = {}, batch_key = {},"
            " attempts = attempts + 1, updated_at = {} WHERE id = ANY({}::uuid[])"
            " RETURNING id, address, attempts",
            now,
            key,
            now,
            ids,
        )
    return key, sorted(rows, key=lambda row: str(row["id"]))


def _bad_email(row: dict[str, Any]) -> bool:
    try:
        EmailMessage(to=row["address"], subject="x", text="x")
    except ValueError:
        return True
    return False


def _email_of(run: _Run, row: dict[str, Any]) -> EmailMessage:
    b = run.broadcast
    return broadcast_email(
        to=row["address"],
        artist_name=b.from_name,
        subject=b.subject or b.from_name,
        body=b.body,
        unsubscribe_url=unsubscribe_url(run.settings, delivery_id=row["id"]),
    )


async def _send_email_batch(run: _Run, key: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    ids = [row["id"] for row in rows]
    # Built from the rows alone, in id order: a re-sent batch is byte-for-byte the first one.
    messages = [_email_of(run, row) for row in rows]
    try:
        provider_ids = await run.email.send_batch(messages, idempotency_key=key)
    except ProviderError as error:
        attempts = max(int(row["attempts"]) for row in rows)
        now = run.clock()
        if error.retryable and attempts < run.max_attempts:
            # Kept as 'sending' with its key, released at once: the retry re-sends this
            # very batch, which Resend answers from its record if the first try got through.
            await BroadcastDelivery.raw(
                "UPDATE broadcast_deliveries SET claimed_at = NULL, not_before = {},"
                " last_error = {}, updated_at = {} WHERE id = ANY({}::uuid[])"
                " AND status = 'sending'",
                now + retry_delay(run.settings, attempts),
                str(error)[:MAX_ERROR_LENGTH],
                now,
                ids,
            )
            log.warning(
                "broadcast email batch failed; it will be retried",
                extra={"broadcast_id": run.broadcast.id, "batch": key, "error": str(error)},
            )
        else:
            await _mark_failed(ids, now, str(error))
            log.error(
                "broadcast email batch failed for good",
                extra={"broadcast_id": run.broadcast.id, "batch": key, "error": str(error)},
            )
        return
    now = run.clock()
    await BroadcastDelivery.raw(
        "UPDATE broadcast_deliveries d SET status = 'sent', sent_at = {},"
        " provider_message_id = p.provider_id, last_error = NULL, updated_at = {}"
        " FROM unnest({}::uuid[], {}::text[]) AS p(id, provider_id)"
        " WHERE d.id = p.id AND d.status = 'sending'",
        now,
        now,
        ids,
        [provider_id[:255] for provider_id in provider_ids],
    )


async def _mark_skipped(ids: Sequence[UUID], now: datetime, reason: str) -> None:
    if ids:
        await BroadcastDelivery.raw(
            "UPDATE broadcast_deliveries SET status = 'skipped', last_error = {},"
            " claimed_at = NULL, updated_at = {} WHERE id = ANY({}::uuid[])",
            reason,
            now,
            list(ids),
        )


async def _mark_failed(ids: Sequence[UUID], now: datetime, error: str) -> None:
    if ids:
        await BroadcastDelivery.raw(
            "UPDATE broadcast_deliveries SET status = 'failed', last_error = {},"
            " claimed_at = NULL, updated_at = {} WHERE id = ANY({}::uuid[])"
            " AND status IN ('pending', 'sending')",
            error[:MAX_ERROR_LENGTH],
            now,
            list(ids),
        )


# -- SMS ----------------------------------------------------------------------------------------


async def _sms_pass(run: _Run) -> bool:
    """Claim up to SMS_LANES texts (deferring or skipping others seen) and send them at once."""
    claimed, progressed = await _claim_texts(run)
    if claimed:
        await asyncio.gather(*(_send_text(run, row) for row in claimed))
    return progressed


async def _claim_texts(run: _Run) -> tuple[list[dict[str, Any]], bool]:
    now = run.clock()
    cutoff = now - run.lease
    b = run.broadcast
    async with DB.transaction():
        rows = await BroadcastDelivery.raw(
            "SELECT d.id, d.address, d.attempts, m.timezone,"
            " (d.member_id IS NULL OR NOT coalesce(m.sms_opt_in, false) OR EXISTS ("
            "  SELECT 1 FROM fan_suppressions s WHERE s.artist_id = {} AND s.channel = 'sms'"
            "  AND s.address = d.address)) AS blocked"
            " FROM broadcast_deliveries d LEFT JOIN contact_list_members m ON m.id = d.member_id"
            " WHERE d.broadcast_id = {} AND d.channel = 'sms' AND ("
            "  (d.status = 'pending' AND EXISTS (SELECT 1 FROM broadcast_messages b"
            "   WHERE b.id = d.broadcast_id AND b.status = 'sending'))"
            "  OR (d.status = 'sending' AND (d.claimed_at IS NULL OR d.claimed_at < {})))"
            f" AND {_due()} ORDER BY d.id LIMIT {{}} FOR UPDATE OF d SKIP LOCKED",
            b.artist_id,
            b.id,
            cutoff,
            now,
            SMS_SCAN,
        )
        if not rows:
            return [], False
        blocked: list[UUID] = []
        deferred: list[tuple[UUID, datetime]] = []
        sendable: list[dict[str, Any]] = []
        for row in rows:
            if row["blocked"]:
                blocked.append(row["id"])
                continue
            zone = zone_of(row["timezone"]) or b.artist_zone
            opens = quiet_until(now, zone)
            if opens is not None:
                deferred.append((row["id"], opens))
            elif len(sendable) < SMS_LANES:
                sendable.append(row)
            # the rest stay as they are for the next pass
        await _mark_skipped(blocked, now, "texted STOP or opted out before sending")
        if deferred:
            await BroadcastDelivery.raw(
                "UPDATE broadcast_deliveries d SET status = 'pending', not_before = q.opens,"
                " claimed_at = NULL, updated_at = {}"
                " FROM unnest({}::uuid[], {}::timestamptz[]) AS q(id, opens) WHERE d.id = q.id",
                now,
                [row_id for row_id, _ in deferred],
                [opens for _, opens in deferred],
            )
        claimed: list[dict[str, Any]] = []
        if sendable:
            claimed = await BroadcastDelivery.raw(
                "UPDATE broadcast_deliveries SET status = 'sending', claimed_at = {},"
                " attempts = attempts + 1, updated_at = {} WHERE id = ANY({}::uuid[])"
                " RETURNING id, address, attempts",
                now,
                now,
                [row["id"] for row in sendable],
            )
    return claimed, True


async def _send_text(run: _Run, row: dict[str, Any]) -> None:
    b = run.broadcast
    try:
        try:
            message = SmsMessage(
                to=row["address"],
                body=broadcast_sms(artist_name=b.from_name, body=b.body),
                purpose="fan",
            )
            sid = await run.sms.send(message)
        except ValueError as error:
            raise ProviderError("twilio", str(error), retryable=False) from error
    except ProviderError as error:
        now = run.clock()
        attempts = int(row["attempts"])
        if error.retryable and attempts < run.max_attempts:
            # Twilio has no idempotency key: a timed-out call may have been delivered and
            # its retry may text twice; 429 and 5xx were not delivered.
            await BroadcastDelivery.raw(
                "UPDATE broadcast_deliveries SET status = 'pending', claimed_at = NULL,"
                " not_before = {}, last_error = {}, updated_at = {}"
                " WHERE id = {} AND status = 'sending'",
                now + retry_delay(run.settings, attempts),
                str(error)[:MAX_ERROR_LENGTH],
                now,
                row["id"],
            )
        else:
            await _mark_failed([row["id"]], now, str(error))
        return
    # Marked at once, on its own: the window in which a crash leaves a delivered text
    # unrecorded is this one statement.
    now = run.clock()
    await BroadcastDelivery.raw(
        "UPDATE broadcast_deliveries SET status = 'sent', sent_at = {}, provider_message_id = {},"
        " last_error = NULL, updated_at = {} WHERE id = {} AND status = 'sending'",
        now,
        sid[:255],
        now,
        row["id"],
    )


# -- the end ------------------------------------------------------------------------------------


async def _finish_or_next(run: _Run) -> datetime | None:
    now = run.clock()
    b = run.broadcast
    await BroadcastMessage.raw(
        "UPDATE broadcast_messages b SET"
        " status = CASE WHEN b.recipient_count > 0 AND NOT EXISTS (SELECT 1"
        "  FROM broadcast_deliveries d WHERE d.broadcast_id = b.id AND d.status <> 'failed')"
        "  THEN 'failed' ELSE 'sent' END,"
        " sent_at = {}, updated_at = {}"
        " WHERE b.id = {} AND b.status = 'sending' AND NOT EXISTS (SELECT 1"
        "  FROM broadcast_deliveries d WHERE d.broadcast_id = b.id"
        "  AND d.status IN ('pending', 'sending'))",
        now,
        now,
        b.id,
    )
    rows = await BroadcastDelivery.raw(
        "SELECT min(greatest(coalesce(d.not_before, {}),"
        " CASE WHEN d.status = 'sending' AND d.claimed_at IS NOT NULL"
        "  THEN d.claimed_at + {}::interval ELSE {} END)) AS next_due"
        " FROM broadcast_deliveries d WHERE d.broadcast_id = {}"
        " AND (d.status = 'sending' OR (d.status = 'pending' AND EXISTS (SELECT 1"
        "  FROM broadcast_messages b WHERE b.id = d.broadcast_id AND b.status = 'sending')))",
        now,
        run.lease,
        now,
        b.id,
    )
    next_due: datetime | None = rows[0]["next_due"] if rows else None
    if next_due is None:
        log.info("broadcast delivered", extra={"broadcast_id": b.id})
        return None
    return max(next_due, now + MIN_REVISIT)
