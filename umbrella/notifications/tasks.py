"""Worker entry points of the notifications domain."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import cast
from uuid import UUID

from umbrella.integrations.base import ProviderError
from umbrella.integrations.email import EmailMessage
from umbrella.integrations.sms import SmsMessage
from umbrella.jobs import JobContext, JobRun, JobSpec, PermanentJobError
from umbrella.notifications import templates
from umbrella.notifications.tables import Notification

log = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 1000


def payload_of(notification: Notification) -> dict[str, object]:
    # Piccolo types a JSONB column as str; the row was read with output(load_json=True).
    return cast(dict[str, object], notification.payload)


async def _deliver(context: JobContext, notification: Notification) -> str:
    payload = payload_of(notification)
    if notification.channel == "email":
        content = templates.render_email(notification.kind, payload)
        message = EmailMessage(
            to=notification.recipient, subject=content.subject, text=content.text
        )
        # The same key on every try: Resend sends once even if a try's answer was lost.
        return await context.email.send(message, idempotency_key=f"notification/{notification.id}")
    text = templates.render_sms(notification.kind, payload)
    return await context.sms.send(
        SmsMessage(to=notification.recipient, body=text, purpose="transactional")
    )


async def send_notification(context: JobContext, run: JobRun) -> None:
    """Send one queued notification and record the outcome; a sent one is never sent again."""
    notification_id = UUID(run.payload["notification_id"])
    notification = (
        await Notification.objects()
        .where(Notification.id == notification_id)
        .output(load_json=True)
        .first()
    )
    if notification is None:
        log.info("notification gone (its user was deleted)", extra={"id": notification_id})
        return
    if notification.status == "sent":
        return
    try:
        try:
            provider_id = await _deliver(context, notification)
        except ValueError as error:  # an address or text the provider would refuse
            raise ProviderError(notification.channel, str(error), retryable=False) from error
    except ProviderError as error:
        final = not error.retryable or run.is_last_attempt
        await Notification.update(
            {
                Notification.attempts: Notification.attempts + 1,
                Notification.last_error: str(error)[:MAX_ERROR_LENGTH],
                Notification.status: "failed" if final else "queued",
                Notification.updated_at: datetime.now(UTC),
            }
        ).where(Notification.id == notification_id)
        if not error.retryable:
            # Held at once: the provider refuses this message; an operator may fix and retry.
            raise PermanentJobError(str(error)) from error
        raise
    # A link that works once must not outlive its email in our database (tokens at rest).
    scrubbed = {**payload_of(notification)}
    for name in templates.SECRET_FIELDS.get(notification.kind, ()):
        if name in scrubbed:
            scrubbed[name] = templates.SCRUBBED
    await Notification.update(
        {
            Notification.payload: scrubbed,
            Notification.attempts: Notification.attempts + 1,
            Notification.status: "sent",
            Notification.sent_at: datetime.now(UTC),
            Notification.provider_message_id: provider_id[:255],
            Notification.last_error: None,
            Notification.updated_at: datetime.now(UTC),
        }
    ).where(Notification.id == notification_id)
    log.info(
        "notification sent",
        extra={"id": notification_id, "kind": notification.kind, "channel": notification.channel},
    )


JOBS = (
    JobSpec(
        name="send_notification",
        handler=send_notification,
        description="Send one email or text of the notifications table and record the outcome.",
    ),
)
