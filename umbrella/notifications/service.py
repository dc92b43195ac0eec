"""Notifications: one row per email or text, queued with the business write, sent by a job.

Every send is a `send_notification` job; every outcome is recorded on the row (sent with
the provider's id, or failed with the error and the number of tries). A user's
preferences (email and SMS on or off) decide what is queued at all.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from pydantic import BaseModel

from umbrella import jobs
from umbrella.accounts.tables import User
from umbrella.core import db
from umbrella.notifications.tables import Notification
from umbrella.notifications.templates import CHANNELS, Channel, InvalidPayload, validate_payload

log = logging.getLogger(__name__)

SEND_JOB = "send_notification"


async def _queue(
    *, kind: str, channel: Channel, recipient: str, payload: dict[str, object], user_id: UUID | None
) -> UUID:
    now = datetime.now(UTC)
    notification_id = uuid.uuid4()
    async with db.engine().transaction():  # joins the caller's transaction when there is one
        await Notification.insert(
            Notification(
                id=notification_id,
                user_id=user_id,
                kind=kind,
                channel=channel,
                recipient=recipient,
                payload=payload,
                status="queued",
                created_at=now,
                updated_at=now,
            )
        )
        await jobs.enqueue(SEND_JOB, {"notification_id": str(notification_id)})
    return notification_id


def _check_channels(kind: str, channels: Sequence[Channel]) -> None:
    if kind not in CHANNELS:
        raise InvalidPayload(f"unknown notification kind {kind!r}")
    allowed = CHANNELS[kind]
    for channel in channels:
        if channel not in allowed:
            raise InvalidPayload(f"{kind} notifications are not sent by {channel}")


async def notify_user(
    *,
    user_id: UUID,
    kind: str,
    payload: BaseModel | dict[str, object],
    channels: Sequence[Channel] = ("email",),
) -> list[UUID]:
    """Queue one notification per channel the user accepts and has an address for."""
    _check_channels(kind, channels)
    stored = validate_payload(kind, payload)
    user = (
        await User.select(User.email, User.phone, User.notify_email, User.notify_sms)
        .where(User.id == user_id)
        .first()
    )
    if user is None:
        log.info("notification skipped: no such user", extra={"kind": kind, "user_id": user_id})
        return []
    queued: list[UUID] = []
    for channel in channels:
        wanted = user["notify_email"] if channel == "email" else user["notify_sms"]
        address = user["email"] if channel == "email" else user["phone"]
        if not wanted or not address:
            reason = "turned off by the user" if not wanted else f"no {channel} address"
            log.info(
                "notification skipped",
                extra={"kind": kind, "channel": channel, "user_id": user_id, "reason": reason},
            )
            continue
        queued.append(
            await _queue(
                kind=kind, channel=channel, recipient=address, payload=stored, user_id=user_id
            )
        )
    return queued


async def notify_email_address(
    *, email: str, kind: str, payload: BaseModel | dict[str, object]
) -> UUID:
    """Queue an email to someone who may have no account (a review invitation, D-032)."""
    _check_channels(kind, ("email",))
    stored = validate_payload(kind, payload)
    return await _queue(kind=kind, channel="email", recipient=email, payload=stored, user_id=None)
