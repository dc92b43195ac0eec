"""The broadcast delivery engine: claim, send and mark each delivery exactly once.

A broadcast fans out, in the transaction that creates it (`service.create_broadcast`), to
one delivery row per recipient and channel. The engine (`deliver_broadcast`, run by the
`send_broadcast` job) claims rows (pending -> sending, `FOR UPDATE SKIP LOCKED`), sends,
and marks each one sent or failed. A claim older than the lease belongs to a dead worker
and is taken over: an email batch is re-sent with the same rows and the same
Idempotency-Key, so Resend sends it once; a text is marked right after its API call, so
only a text in flight when a worker died can go out twice. docs/broadcasts.md has the
whole argument.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from umbrella.broadcasts.timing import (
    DEFAULT_ZONE,
    claim_lease,
    delivery_attempts,
    quiet_until,
    retry_delay,
    utcnow,
    zone_of,
)
from umbrella.config import Settings
from umbrella.core import db
from umbrella.fans.unsubscribe import unsubscribe_url
from umbrella.integrations.base import ProviderError
from umbrella.integrations.email import BATCH_LIMIT, EmailMessage, EmailSender
from umbrella.integrations.sms import SmsMessage, SmsSender
from umbrella.notifications.templates import broadcast_email, broadcast_sms
from umbrella.piccolo_conf import DB

log = logging.getLogger(__name__)

SEND_JOB = "send_broadcast"
Clock = Callable[[], datetime]

# Texts in flight at once per job: each is claimed just before its call, so a claim's age
# stays within the limiter's wait for a handful of slots plus one call.
SMS_LANES = 8
# Rows looked at per pass when picking texts: the ones deferred or skipped cost no call.
SMS_SCAN = 200
MAX_ERROR_LENGTH = 1000
# A job that found rows held by another worker comes back no sooner than this.
MIN_REVISIT = timedelta(seconds=1)


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
    rows = await db.fetch(
        "SELECT b.id, b.artist_id, b.status, b.subject, b.body,"
        " coalesce(b.from_name, a.stage_name) AS from_name, a.timezone"
        " FROM broadcast_messages b JOIN artists a ON a.id = b.artist_id WHERE b.id = $1",
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


def _due(now: str, alias: str = "d") -> str:
    """Rows whose `not_before` has come; `now` is the statement's placeholder (`$n`)."""
    return f"({alias}.not_before IS NULL OR {alias}.not_before <= {now})"


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
        stale = await db.fetch(
            "SELECT DISTINCT d.batch_key FROM broadcast_deliveries d WHERE d.broadcast_id = $1"
            " AND d.channel = 'email' AND d.status = 'sending'"
            f" AND (d.claimed_at IS NULL OR d.claimed_at < $2) AND {_due('$3')} LIMIT 10",
            b.id,
            cutoff,
            now,
        )
        for candidate in stale:
            key = str(candidate["batch_key"])
            # One taker per batch, without waiting on (or deadlocking with) another.
            locked = await db.fetch(
                "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0)) AS ok", key
            )
            if not locked[0]["ok"]:
                continue
            rows = await db.fetch(
                "UPDATE broadcast_deliveries SET claimed_at = $1, attempts = attempts + 1,"
                " updated_at = $2 WHERE broadcast_id = $3 AND batch_key = $4"
                " AND status = 'sending' AND (claimed_at IS NULL OR claimed_at < $5)"
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
        picked = await db.fetch(
            "SELECT d.id, d.address,"
            " (d.member_id IS NULL OR NOT coalesce(m.email_opt_in, false) OR EXISTS ("
            "  SELECT 1 FROM fan_suppressions s WHERE s.artist_id = $1 AND s.channel = 'email'"
            "  AND s.address = d.address)) AS blocked"
            " FROM broadcast_deliveries d LEFT JOIN contact_list_members m ON m.id = d.member_id"
            " WHERE d.broadcast_id = $2 AND d.channel = 'email' AND d.status = 'pending'"
            f" AND {_due('$3')} AND EXISTS (SELECT 1 FROM broadcast_messages b"
            "  WHERE b.id = d.broadcast_id AND b.status = 'sending')"
            " ORDER BY d.id LIMIT $4 FOR UPDATE OF d SKIP LOCKED",
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
        rows = await db.fetch(
            "UPDATE broadcast_deliveries SET status = 'sending', claimed_at = $1, batch_key = $2,"
            " attempts = attempts + 1, updated_at = $3 WHERE id = ANY($4::uuid[])"
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
            await db.fetch(
                "UPDATE broadcast_deliveries SET claimed_at = NULL, not_before = $1,"
                " last_error = $2, updated_at = $3 WHERE id = ANY($4::uuid[])"
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
    await db.fetch(
        "UPDATE broadcast_deliveries d SET status = 'sent', sent_at = $1,"
        " provider_message_id = p.provider_id, last_error = NULL, updated_at = $2"
        " FROM unnest($3::uuid[], $4::text[]) AS p(id, provider_id)"
        " WHERE d.id = p.id AND d.status = 'sending'",
        now,
        now,
        ids,
        [provider_id[:255] for provider_id in provider_ids],
    )


async def _mark_skipped(ids: Sequence[UUID], now: datetime, reason: str) -> None:
    if ids:
        await db.fetch(
            "UPDATE broadcast_deliveries SET status = 'skipped', last_error = $1,"
            " claimed_at = NULL, updated_at = $2 WHERE id = ANY($3::uuid[])",
            reason,
            now,
            list(ids),
        )


async def _mark_failed(ids: Sequence[UUID], now: datetime, error: str) -> None:
    if ids:
        await db.fetch(
            "UPDATE broadcast_deliveries SET status = 'failed', last_error = $1,"
            " claimed_at = NULL, updated_at = $2 WHERE id = ANY($3::uuid[])"
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
        rows = await db.fetch(
            "SELECT d.id, d.address, d.attempts, m.timezone,"
            " (d.member_id IS NULL OR NOT coalesce(m.sms_opt_in, false) OR EXISTS ("
            "  SELECT 1 FROM fan_suppressions s WHERE s.artist_id = $1 AND s.channel = 'sms'"
            "  AND s.address = d.address)) AS blocked"
            " FROM broadcast_deliveries d LEFT JOIN contact_list_members m ON m.id = d.member_id"
            " WHERE d.broadcast_id = $2 AND d.channel = 'sms' AND ("
            "  (d.status = 'pending' AND EXISTS (SELECT 1 FROM broadcast_messages b"
            "   WHERE b.id = d.broadcast_id AND b.status = 'sending'))"
            "  OR (d.status = 'sending' AND (d.claimed_at IS NULL OR d.claimed_at < $3)))"
            f" AND {_due('$4')} ORDER BY d.id LIMIT $5 FOR UPDATE OF d SKIP LOCKED",
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
            await db.fetch(
                "UPDATE broadcast_deliveries d SET status = 'pending', not_before = q.opens,"
                " claimed_at = NULL, updated_at = $1"
                " FROM unnest($2::uuid[], $3::timestamptz[]) AS q(id, opens) WHERE d.id = q.id",
                now,
                [row_id for row_id, _ in deferred],
                [opens for _, opens in deferred],
            )
        claimed: list[dict[str, Any]] = []
        if sendable:
            claimed = await db.fetch(
                "UPDATE broadcast_deliveries SET status = 'sending', claimed_at = $1,"
                " attempts = attempts + 1, updated_at = $2 WHERE id = ANY($3::uuid[])"
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
            await db.fetch(
                "UPDATE broadcast_deliveries SET status = 'pending', claimed_at = NULL,"
                " not_before = $1, last_error = $2, updated_at = $3"
                " WHERE id = $4 AND status = 'sending'",
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
    await db.fetch(
        "UPDATE broadcast_deliveries SET status = 'sent', sent_at = $1, provider_message_id = $2,"
        " last_error = NULL, updated_at = $3 WHERE id = $4 AND status = 'sending'",
        now,
        sid[:255],
        now,
        row["id"],
    )


# -- the end ------------------------------------------------------------------------------------


async def _finish_or_next(run: _Run) -> datetime | None:
    now = run.clock()
    b = run.broadcast
    await db.fetch(
        "UPDATE broadcast_messages b SET"
        " status = CASE WHEN b.recipient_count > 0 AND NOT EXISTS (SELECT 1"
        "  FROM broadcast_deliveries d WHERE d.broadcast_id = b.id AND d.status <> 'failed')"
        "  THEN 'failed' ELSE 'sent' END,"
        " sent_at = $1, updated_at = $2"
        " WHERE b.id = $3 AND b.status = 'sending' AND NOT EXISTS (SELECT 1"
        "  FROM broadcast_deliveries d WHERE d.broadcast_id = b.id"
        "  AND d.status IN ('pending', 'sending'))",
        now,
        now,
        b.id,
    )
    rows = await db.fetch(
        "SELECT min(greatest(coalesce(d.not_before, $1),"
        " CASE WHEN d.status = 'sending' AND d.claimed_at IS NOT NULL"
        "  THEN d.claimed_at + $2::interval ELSE $3 END)) AS next_due"
        " FROM broadcast_deliveries d WHERE d.broadcast_id = $4"
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
