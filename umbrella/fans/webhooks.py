"""Provider webhooks of fan messaging: Twilio inbound texts (STOP/START), Resend bounces.

Both are public routes: the signature is the credential, checked before anything changes.
Twilio signs the URL it was configured with, which behind the ingress is not the URL the
api sees: we rebuild it as `public_base_url` + path and query. docs/fans.md has the setup.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from twilio.request_validator import RequestValidator

from umbrella.config import Settings
from umbrella.core.errors import Forbidden, NotConfigured, ValidationFailed
from umbrella.fans import suppressions
from umbrella.piccolo_conf import DB

log = logging.getLogger(__name__)

# Twilio's default opt-out and opt-in keywords: the whole message, any case, trimmed.
STOP_WORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "OPTOUT", "REVOKE"}
)
START_WORDS = frozenset({"START", "UNSTOP"})
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
# Svix (Resend's webhook signer) refuses older messages too: a replayed event is stale.
SVIX_TOLERANCE_SECONDS = 5 * 60


# -- Twilio ------------------------------------------------------------------------------------


def twilio_url(settings: Settings, path_qs: str) -> str:
    """The URL Twilio signed: the one configured in its console, on our public origin."""
    return settings.public_base_url.rstrip("/") + path_qs


def verify_twilio(
    settings: Settings, *, path_qs: str, params: Mapping[str, str], signature: str | None
) -> None:
    """403 unless `X-Twilio-Signature` is Twilio's HMAC-SHA1 of the URL and the POST params."""
    if settings.twilio_auth_token is None:
        raise NotConfigured("twilio", "Inbound texts are not configured here.")
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    if not signature or not validator.validate(
        twilio_url(settings, path_qs), dict(params), signature
    ):
        raise Forbidden("The Twilio signature does not match.", field="X-Twilio-Signature")


def _is_fan_sender(settings: Settings, to: str) -> bool:
    # A Messaging Service (MG…) sends from a pool of numbers: any of them is ours.
    sender = settings.sms_from_fan_messages
    return sender is None or not sender.startswith("+") or to == sender


async def handle_twilio_inbound(*, settings: Settings, params: Mapping[str, str]) -> str | None:
    """Honour STOP (suppress the number) and START (lift its STOPs); what was done, if anything."""
    word = params.get("Body", "").strip().upper()
    sender = params.get("From", "").strip()
    if word not in STOP_WORDS | START_WORDS or not sender:
        return None  # D-088: no inbound SMS otherwise; Twilio's own HELP reply stands.
    if not _is_fan_sender(settings, params.get("To", "").strip()):
        # Transactional texts: Twilio's own opt-out blocks that number for this sender.
        return None
    async with DB.transaction():
        if word in STOP_WORDS:
            # The fan sender is shared: a STOP to it stops every artist's texts to the fan.
            count = await suppressions.suppress_everywhere(
                channel="sms", address=sender, reason="stop"
            )
            action = "stop"
        else:
            count = await suppressions.delete_stop_suppressions(phone=sender)
            action = "start"
    log.info("inbound sms keyword", extra={"action": action, "artists": count})
    return action


# -- Resend (signed by Svix) -------------------------------------------------------------------


def _svix_key(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise NotConfigured("resend", "The Resend webhook secret is not a whsec_ secret.") from None


def svix_signature(secret: str, *, msg_id: str, timestamp: str, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` under the whsec_ secret."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_svix_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_resend(
    settings: Settings, *, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> None:
    """403 unless one of `svix-signature`'s v1 signatures matches and the message is fresh."""
    if settings.resend_webhook_secret is None:
        raise NotConfigured("resend", "The Resend webhook is not configured here.")
    msg_id = headers.get("svix-id", "")
    timestamp = headers.get("svix-timestamp", "")
    signatures = headers.get("svix-signature", "")
    forged = Forbidden("The webhook signature does not match.", field="svix-signature")
    if not (msg_id and timestamp.isdigit() and signatures):
        raise forged
    if abs((now if now is not None else time.time()) - int(timestamp)) > SVIX_TOLERANCE_SECONDS:
        raise Forbidden(
            "The webhook timestamp is too old or in the future.", field="svix-timestamp"
        )
    expected = svix_signature(
        settings.resend_webhook_secret.get_secret_value(),
        msg_id=msg_id,
        timestamp=timestamp,
        body=body,
    ).encode()
    # Several space-separated signatures while the secret is being rotated.
    if not any(hmac.compare_digest(given.encode(), expected) for given in signatures.split()):
        raise forged


_REASONS = {"email.bounced": "bounce", "email.complained": "complaint"}


def _event(body: bytes) -> dict[str, Any]:
    try:
        event = json.loads(body)
    except ValueError:
        raise ValidationFailed("The request body is not valid JSON.", field="body") from None
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        raise ValidationFailed("An event has a type and a data object.", field="data")
    return event


async def handle_resend_event(*, body: bytes) -> str | None:
    """Suppress the address of a hard bounce or a complaint; the reason, or None if ignored."""
    event = _event(body)
    reason = _REASONS.get(str(event.get("type")))
    data: dict[str, Any] = event["data"]
    bounce = data.get("bounce")
    if isinstance(bounce, dict) and str(bounce.get("type", "")).lower() in {"transient", "soft"}:
        return None  # a full mailbox: Resend retries, and the address stays good
    if reason is None:
        return None  # deliveries, opens and clicks: nothing to suppress
    email_id = data.get("email_id")
    recipients = data.get("to") or []
    if isinstance(recipients, str):
        recipients = [recipients]
    async with DB.transaction():
        delivery = (
            await suppressions.get_email_delivery(email_id=email_id)
            if isinstance(email_id, str) and email_id
            else None
        )
        if delivery is not None:
            # The email of one broadcast: the artist who sent it.
            await suppressions.suppress(
                artist_id=delivery.artist_id,
                channel="email",
                address=delivery.address,
                reason=reason,
            )
        else:
            for address in recipients:
                if isinstance(address, str) and "@" in address:
                    await suppressions.suppress_everywhere(
                        channel="email", address=_bare(address), reason=reason
                    )
    log.info("email suppressed", extra={"reason": reason, "known_email": delivery is not None})
    return reason


def _bare(address: str) -> str:
    """`fan@example.com` from `Fan <Fan@Example.com>`, lowercased like members' emails."""
    if "<" in address and address.rstrip().endswith(">"):
        address = address.rsplit("<", 1)[1].rstrip().rstrip(">")
    return address.strip().lower()
