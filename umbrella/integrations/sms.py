"""Text messages through Twilio (`twilio`), or logged for development (`console`).

Every Twilio send first takes a slot of the shared limiter (`ratelimit:sms` in Redis), so
all workers together stay under `UMBRELLA_SMS_RATE_PER_SECOND`. Twilio has no idempotency
key for messages: a timed-out call may have been delivered, and its retry may text twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import aiohttp
import phonenumbers
from redis.asyncio import Redis
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from umbrella.config import Settings, SmsBackend
from umbrella.integrations.base import ProviderCall, ProviderError, is_retryable_status
from umbrella.integrations.ratelimit import RateLimiter, SharedRateLimiter
from umbrella.observability.metrics import Metrics

log = logging.getLogger(__name__)

PROVIDER = "twilio"
RATE_LIMIT_KEY = "ratelimit:sms"
# Twilio's limit on a message body (longer ones are refused with error 21617).
MAX_BODY_CHARS = 1600

Purpose = Literal["transactional", "fan"]

_PARSE_REASONS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: (
        "has no valid country code: write it as +<country code><number>, e.g. +1 415 555 0100"
    ),
    phonenumbers.NumberParseException.NOT_A_NUMBER: "is not a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "is too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "is too short",
    phonenumbers.NumberParseException.TOO_LONG: "is too long",
}


class InvalidPhoneNumber(ValueError):
    """A phone number that no carrier would accept; the message says why, not the number."""


def normalize_e164(number: str, default_region: str | None = None) -> str:
    """`+14155550100` from any common way of writing a number (`+1 (415) 555-0100`).

    Without `default_region` the number must start with `+` and its country code.
    """
    try:
        parsed = phonenumbers.parse(number, default_region)
    except phonenumbers.NumberParseException as error:
        reason = _PARSE_REASONS.get(error.error_type, "is not a phone number")
        raise InvalidPhoneNumber(f"the phone number {reason}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber("the phone number is not a valid number in its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class SmsMessage:
    """One text. `purpose` picks the sender: fans' STOP replies must not silence bookings."""

    to: str
    body: str
    purpose: Purpose

    def __post_init__(self) -> None:
        if not self.body.strip():
            raise ValueError("body must not be empty")
        if len(self.body) > MAX_BODY_CHARS:
            raise ValueError(f"body must be at most {MAX_BODY_CHARS} characters")
        if self.purpose not in ("transactional", "fan"):
            raise ValueError("purpose must be 'transactional' or 'fan'")


class SmsSender(Protocol):
    """Sends texts; raises `ProviderError` when the provider refuses or fails."""

    async def send(self, message: SmsMessage) -> str:
        """Send one text; return the provider's message id (a Twilio `SM…` SID)."""
        ...


def sender_for(settings: Settings, purpose: Purpose) -> str:
    """The configured sender of this kind of text: an E.164 number or a Messaging Service SID."""
    sender = settings.sms_from_fan_messages if purpose == "fan" else settings.sms_from_transactional
    if sender is None:
        raise ValueError("UMBRELLA_SMS_FROM_TRANSACTIONAL is not set")
    return sender


def _error(message: str, *, retryable: bool, status: int | None = None) -> ProviderError:
    return ProviderError(PROVIDER, message, retryable=retryable, status=status)


class TwilioSms:
    """Twilio's Messages API through the SDK's aiohttp client; `close()` it when done."""

    def __init__(self, settings: Settings, metrics: Metrics, limiter: RateLimiter) -> None:
        if settings.twilio_account_sid is None or settings.twilio_auth_token is None:
            raise ValueError("twilio_account_sid and twilio_auth_token are required")
        self._settings = settings
        self._metrics = metrics
        self._limiter = limiter
        self._timeout = settings.sms_timeout_seconds
        self._http = AsyncTwilioHttpClient(timeout=settings.sms_timeout_seconds)
        self._client = Client(
            username=settings.twilio_account_sid,
            password=settings.twilio_auth_token.get_secret_value(),
            account_sid=settings.twilio_account_sid,
            http_client=self._http,
        )
        # The Messages API lives on the `api` domain; pointing it elsewhere serves tests.
        self._client.api.base_url = settings.twilio_base_url

    async def close(self) -> None:
        await self._http.close()

    async def send(self, message: SmsMessage) -> str:
        try:
            to = normalize_e164(message.to)
        except InvalidPhoneNumber as error:
            # Nothing was sent, so no call is counted; no retry can fix the number.
            raise _error(f"invalid recipient: {error}", retryable=False) from None
        sender = sender_for(self._settings, message.purpose)
        route: dict[str, str] = (
            {"messaging_service_sid": sender} if sender.startswith("MG") else {"from_": sender}
        )
        await self._limiter.acquire()
        call = ProviderCall(self._metrics, PROVIDER)
        try:
            # The SDK passes no timeout to aiohttp of its own accord (it would wait forever).
            async with asyncio.timeout(self._timeout):
                created: Any = await self._client.messages.create_async(
                    to=to, body=message.body, **route
                )
            sid = created.sid
            if not isinstance(sid, str) or not sid:
                raise _error("response has no message SID", retryable=True)
        except ProviderError as error:
            raise call.failed(error) from None
        except TwilioRestException as error:
            raise call.failed(_rest_error(error)) from None
        except TwilioException as error:
            # The SDK's newer (RFC 9457) errors and its own failures.
            status = getattr(error, "status", None)
            code = getattr(error, "code", None)
            retryable = isinstance(status, int) and is_retryable_status(status)
            text = f"HTTP {status} error {code}" if status else type(error).__name__
            raise call.failed(_error(text, retryable=retryable, status=status)) from None
        except TimeoutError:
            raise call.failed(
                _error(f"no answer within {self._timeout:g}s", retryable=True)
            ) from None
        except aiohttp.ClientError as error:
            raise call.failed(
                _error(f"connection failed ({type(error).__name__})", retryable=True)
            ) from None
        except json.JSONDecodeError:
            raise call.failed(_error("malformed JSON in response", retryable=True)) from None
        call.record(None)
        return sid


def _rest_error(error: TwilioRestException) -> ProviderError:
    """429 and 5xx are worth a retry; 400s (21211 bad 'To', 21610 unsubscribed) never are."""
    status = int(error.status)
    # The SDK prefixes Twilio's message with its own "Unable to create record: ".
    detail = str(error.msg).removeprefix("Unable to create record: ")[:200]
    text = f"HTTP {status} error {error.code}: {detail}"
    return _error(text, retryable=is_retryable_status(status), status=status)


class ConsoleSms:
    """Development backend: logs each text, body included (that is its purpose)."""

    async def send(self, message: SmsMessage) -> str:
        try:
            to = normalize_e164(message.to)
        except InvalidPhoneNumber as error:
            raise _error(f"invalid recipient: {error}", retryable=False) from None
        sid = f"console-{uuid.uuid4()}"
        log.info(
            "sms (console backend, not sent)\nTo: %s\n\n%s",
            to,
            message.body,
            extra={"sms_id": sid, "to": to, "purpose": message.purpose},
        )
        return sid


@asynccontextmanager
async def sms_sender(
    settings: Settings, metrics: Metrics, redis: Redis
) -> AsyncIterator[SmsSender]:
    """The configured backend; Twilio's HTTP session is closed on exit."""
    if settings.sms_backend is SmsBackend.CONSOLE:
        log.info("sms backend: console (texts are logged, not sent)")
        yield ConsoleSms()
        return
    limiter = SharedRateLimiter(
        redis, key=RATE_LIMIT_KEY, rate_per_second=settings.sms_rate_per_second
    )
    sender = TwilioSms(settings, metrics, limiter)
    log.info(
        "sms backend: twilio",
        extra={"base_url": settings.twilio_base_url, "rate": settings.sms_rate_per_second},
    )
    try:
        yield sender
    finally:
        await sender.close()
