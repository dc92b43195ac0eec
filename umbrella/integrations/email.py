"""Email through Resend's HTTP API (`resend`), or logged for development (`console`).

Every call carries an `Idempotency-Key`: a job retried after a lost response gets the
first answer back from Resend instead of sending the message twice.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from umbrella.config import EmailBackend, Settings
from umbrella.integrations.base import ProviderCall, ProviderError, is_retryable_status
from umbrella.observability.metrics import Metrics

log = logging.getLogger(__name__)

PROVIDER = "resend"
# Resend takes at most 100 emails per POST /emails/batch (its docs, "Batch Sending").
BATCH_LIMIT = 100
# Resend accepts idempotency keys of 1 to 256 characters.
IDEMPOTENCY_KEY_MAX = 256

_TAG_PART = re.compile(r"[A-Za-z0-9_-]{1,256}")
_ADDRESS = re.compile(r"[^\s@<>,;\"]+@[^\s@<>,;\"]+")
_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class EmailMessage:
    """One plain-text email to one recipient.

    `unsubscribe_url` marks bulk mail (fan broadcasts): it adds the RFC 8058 one-click
    `List-Unsubscribe` headers that Gmail and Yahoo require of bulk senders.
    """

    to: str
    subject: str
    text: str
    from_name: str | None = None
    reply_to: str | None = None
    unsubscribe_url: str | None = None
    tags: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if not _ADDRESS.fullmatch(self.to):
            raise ValueError("to must be one email address")
        if self.reply_to is not None and not _ADDRESS.fullmatch(self.reply_to):
            raise ValueError("reply_to must be one email address")
        if not self.subject.strip():
            raise ValueError("subject must not be empty")
        if self.unsubscribe_url is not None:
            parts = urlsplit(self.unsubscribe_url)
            if parts.scheme not in {"http", "https"} or not parts.hostname:
                raise ValueError("unsubscribe_url must be an http(s) URL")
            if _CONTROL.search(self.unsubscribe_url) or re.search(r"[\s<>]", self.unsubscribe_url):
                raise ValueError("unsubscribe_url must not contain spaces, '<' or '>'")
        for name, value in (self.tags or {}).items():
            if not (_TAG_PART.fullmatch(name) and _TAG_PART.fullmatch(value)):
                raise ValueError("tag names and values may hold only A-Z, a-z, 0-9, '_' and '-'")

    @property
    def is_bulk(self) -> bool:
        return self.unsubscribe_url is not None


class EmailSender(Protocol):
    """Sends email: `ProviderError` when the provider refuses or fails, `ValueError` (before
    any call) for a key or batch size the provider would never accept."""

    async def send(self, message: EmailMessage, *, idempotency_key: str) -> str:
        """Send one message; return the provider's message id."""
        ...

    async def send_batch(
        self, messages: Sequence[EmailMessage], *, idempotency_key: str
    ) -> list[str]:
        """Send up to `BATCH_LIMIT` messages in one call; return their ids in order.

        A retry must pass the same messages in the same order with the same key.
        """
        ...


def format_sender(name: str, address: str) -> str:
    """`Name <address>`, the display name quoted when it holds RFC 5322 specials."""
    name = " ".join(_CONTROL.sub(" ", name).split())
    if not name:
        return address
    if _SPECIALS.search(name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{address}>"


def _check_key(idempotency_key: str) -> None:
    if not 1 <= len(idempotency_key) <= IDEMPOTENCY_KEY_MAX:
        raise ValueError(f"idempotency_key must be 1 to {IDEMPOTENCY_KEY_MAX} characters")


def _check_batch(messages: Sequence[EmailMessage]) -> None:
    if len(messages) > BATCH_LIMIT:
        raise ValueError(f"a batch holds at most {BATCH_LIMIT} messages, got {len(messages)}")


class ResendEmail:
    """Resend's REST API over one aiohttp session; `close()` it when done."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        if settings.resend_api_key is None:
            raise ValueError("resend_api_key is required for the resend email backend")
        self._settings = settings
        self._metrics = metrics
        self._base_url = settings.resend_base_url.rstrip("/")
        self._timeout = settings.email_timeout_seconds
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=settings.email_timeout_seconds),
            headers={
                "Authorization": f"Bearer {settings.resend_api_key.get_secret_value()}",
                "User-Agent": "umbrella",
            },
        )

    async def close(self) -> None:
        await self._session.close()

    async def send(self, message: EmailMessage, *, idempotency_key: str) -> str:
        _check_key(idempotency_key)
        call = ProviderCall(self._metrics, PROVIDER)
        body = await self._post(call, "/emails", self.payload(message), idempotency_key)
        email_id = body.get("id") if isinstance(body, dict) else None
        if not isinstance(email_id, str):
            raise call.failed(ProviderError(PROVIDER, "response has no email id", retryable=True))
        call.record(None)
        return email_id

    async def send_batch(
        self, messages: Sequence[EmailMessage], *, idempotency_key: str
    ) -> list[str]:
        _check_key(idempotency_key)
        _check_batch(messages)
        if not messages:
            return []
        payload = [self.payload(message) for message in messages]
        call = ProviderCall(self._metrics, PROVIDER)
        body = await self._post(call, "/emails/batch", payload, idempotency_key)
        data = body.get("data") if isinstance(body, dict) else None
        items = data if isinstance(data, list) else []
        ids = [item.get("id") if isinstance(item, dict) else None for item in items]
        if len(ids) != len(messages) or not all(isinstance(email_id, str) for email_id in ids):
            error = ProviderError(PROVIDER, "batch response lacks one id per email", retryable=True)
            raise call.failed(error)
        call.record(None)
        return [str(email_id) for email_id in ids]

    def payload(self, message: EmailMessage) -> dict[str, Any]:
        """The JSON Resend expects for one email."""
        settings = self._settings
        payload: dict[str, Any] = {
            "from": format_sender(
                message.from_name or settings.email_from_name, settings.email_from_address
            ),
            "to": [message.to],
            # A line break in a subject would end the header; user text can hold one.
            "subject": " ".join(_CONTROL.sub(" ", message.subject).split()),
            "text": message.text,
        }
        reply_to = message.reply_to or settings.email_reply_to
        if reply_to:
            payload["reply_to"] = [reply_to]
        if message.unsubscribe_url is not None:
            payload["headers"] = {
                "List-Unsubscribe": f"<{message.unsubscribe_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        if message.tags:
            payload["tags"] = [
                {"name": name, "value": value} for name, value in message.tags.items()
            ]
        return payload

    async def _post(
        self, call: ProviderCall, path: str, payload: object, idempotency_key: str
    ) -> Any:
        """POST JSON; return the decoded 2xx body or raise a classified `ProviderError`."""
        try:
            async with self._session.post(
                self._base_url + path, json=payload, headers={"Idempotency-Key": idempotency_key}
            ) as response:
                status = response.status
                raw = await response.read()
        except TimeoutError:
            raise call.failed(
                ProviderError(PROVIDER, f"no answer within {self._timeout:g}s", retryable=True)
            ) from None
        except aiohttp.ClientError as error:
            raise call.failed(
                ProviderError(
                    PROVIDER, f"connection failed ({type(error).__name__})", retryable=True
                )
            ) from None
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
            if 200 <= status < 300:
                raise call.failed(
                    ProviderError(
                        PROVIDER, "malformed JSON in response", retryable=True, status=status
                    )
                ) from None
        if 200 <= status < 300:
            return body
        raise call.failed(_error_from_response(status, body))


def _error_from_response(status: int, body: object) -> ProviderError:
    name = message = ""
    if isinstance(body, dict):
        name = str(body.get("name") or "")
        message = str(body.get("message") or "")
    retryable = is_retryable_status(status)
    if name == "invalid_idempotent_request":
        # Same key, different payload: a bug on our side that no retry can fix.
        retryable = False
    text = (
        f"HTTP {status}" + (f" {name}" if name else "") + (f": {message[:200]}" if message else "")
    )
    return ProviderError(PROVIDER, text, retryable=retryable, status=status)


class ConsoleEmail:
    """Development backend: logs each message, body included (that is its purpose)."""

    async def send(self, message: EmailMessage, *, idempotency_key: str) -> str:
        _check_key(idempotency_key)
        return self._log(message)

    async def send_batch(
        self, messages: Sequence[EmailMessage], *, idempotency_key: str
    ) -> list[str]:
        _check_key(idempotency_key)
        _check_batch(messages)
        return [self._log(message) for message in messages]

    @staticmethod
    def _log(message: EmailMessage) -> str:
        email_id = f"console-{uuid.uuid4()}"
        log.info(
            "email (console backend, not sent)\nTo: %s\nSubject: %s\n\n%s",
            message.to,
            message.subject,
            message.text,
            extra={
                "email_id": email_id,
                "to": message.to,
                "subject": message.subject,
                "bulk": message.is_bulk,
            },
        )
        return email_id


@asynccontextmanager
async def email_sender(settings: Settings, metrics: Metrics) -> AsyncIterator[EmailSender]:
    """The configured backend; the Resend session is closed on exit."""
    if settings.email_backend is EmailBackend.CONSOLE:
        log.info("email backend: console (messages are logged, not sent)")
        yield ConsoleEmail()
        return
    sender = ResendEmail(settings, metrics)
    log.info("email backend: resend", extra={"base_url": settings.resend_base_url})
    try:
        yield sender
    finally:
        await sender.close()
