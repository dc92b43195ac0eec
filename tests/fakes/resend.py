"""Fake Resend: POST /emails and /emails/batch with Resend's auth, validation and idempotency.

Accepted emails land in `sent` (the JSON object as received, plus the `id` given back).
Like Resend, a repeated `Idempotency-Key` with the same body returns the first answer
without sending again, and with a different body gets 409 `invalid_idempotent_request`.

Batches are also tallied by the part of their key before the first "-" (`tally`): the
broadcast engine's keys are `b<broadcast id>-<hash of the rows>`, so one broadcast is one
tally, with the times its batches arrived. The load benchmark (umbrella_bench) times a
broadcast by it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from tests.fakes.base import FailureKind, FakeServer
from umbrella.config import EmailBackend, Settings

BATCH_LIMIT = 100
RECIPIENT_LIMIT = 50
_TAG_PART = re.compile(r"[A-Za-z0-9_-]{1,256}")


def resend_error(status: int, name: str, message: str) -> web.Response:
    """Resend's error body: `{"statusCode", "name", "message"}`."""
    return web.json_response(
        {"statusCode": status, "name": name, "message": message}, status=status
    )


@dataclass
class Tally:
    """The batches of one key group (one broadcast): emails, addresses, when they arrived.

    Times are `time.perf_counter()` values: one clock for the whole process, so a thread
    serving the fake and another thread's event loop can subtract them.
    """

    emails: int = 0
    batches: int = 0
    replays: int = 0
    addresses: set[str] = dataclasses.field(default_factory=set)
    first_at: float | None = None
    last_at: float | None = None

    @property
    def duplicates(self) -> int:
        """Emails to an address that had one already: a broadcast must send none."""
        return self.emails - len(self.addresses)


def key_group(idempotency_key: str) -> str:
    """The tally a batch counts in: its key up to the first "-"."""
    return idempotency_key.partition("-")[0]


class _Invalid(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def _address_ok(value: object) -> bool:
    if not isinstance(value, str) or "\n" in value or "\r" in value:
        return False
    _, address = parseaddr(value)
    return "@" in address and " " not in address


def _validate_email(email: object, where: str = "") -> None:
    """The checks Resend makes on one email object (the ones our client can trip)."""
    if not isinstance(email, dict):
        raise _Invalid("validation_error", f"{where}Invalid email object.")
    for field in ("from", "to", "subject"):
        if email.get(field) in (None, "", []):
            raise _Invalid("missing_required_field", f"{where}Missing `{field}` field.")
    if not _address_ok(email["from"]):
        raise _Invalid(
            "validation_error",
            f"{where}Invalid `from` field. The email address needs to follow the"
            " `email@example.com` or `Name <email@example.com>` format.",
        )
    recipients = email["to"] if isinstance(email["to"], list) else [email["to"]]
    if len(recipients) > RECIPIENT_LIMIT:
        raise _Invalid("validation_error", f"{where}Too many recipients: at most 50.")
    if not all(_address_ok(to) for to in recipients):
        raise _Invalid("validation_error", f"{where}Invalid `to` field.")
    if "html" not in email and "text" not in email:
        raise _Invalid("validation_error", f"{where}Missing `html` or `text` field.")
    headers = email.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(value, str) for value in headers.values()
    ):
        raise _Invalid("validation_error", f"{where}Invalid `headers` field.")
    for tag in email.get("tags", []):
        if not (
            isinstance(tag, dict)
            and _TAG_PART.fullmatch(str(tag.get("name", "")))
            and _TAG_PART.fullmatch(str(tag.get("value", "")))
        ):
            raise _Invalid(
                "validation_error",
                f"{where}Tags should only contain ASCII letters, numbers, underscores, or dashes.",
            )


class FakeResend(FakeServer):
    name = "resend"

    def __init__(self, api_key: str | None = None) -> None:
        super().__init__()
        self.api_key = api_key or f"re_test_{secrets.token_urlsafe(16)}"
        self.sent: list[dict[str, Any]] = []
        # Idempotency-Key -> (path and canonical body, status, response body)
        self._idempotent: dict[str, tuple[str, int, Any]] = {}
        self._tallies: dict[str, Tally] = {}
        self._lose = 0

    def tally(self, group: str) -> Tally:
        """The live tally of a key group (an empty one until its first batch)."""
        return self._tallies.setdefault(group, Tally())

    def env(self) -> dict[str, str]:
        """The UMBRELLA_* that point an `umbrella` process (api, worker) at this fake."""
        return {
            "UMBRELLA_EMAIL_BACKEND": EmailBackend.RESEND.value,
            "UMBRELLA_RESEND_BASE_URL": self.url,
            "UMBRELLA_RESEND_API_KEY": self.api_key,
        }

    def lose_responses(self, times: int = 1) -> None:
        """Process the next `times` requests fully, then hang instead of answering."""
        self._lose += times

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/emails", self._emails)
        app.router.add_post("/emails/batch", self._batch)

    def failure_response(self, kind: FailureKind) -> web.Response:
        if kind == "429":
            return resend_error(
                429,
                "rate_limit_exceeded",
                "Too many requests. You can only make 2 requests per second.",
            )
        return resend_error(500, "application_error", "An unexpected error occurred.")

    async def _emails(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, batch=False)

    async def _batch(self, request: web.Request) -> web.StreamResponse:
        return await self._handle(request, batch=True)

    async def _handle(self, request: web.Request, *, batch: bool) -> web.StreamResponse:
        received = time.perf_counter()
        authorization = request.headers.get("Authorization", "")
        if not authorization.startswith("Bearer ") or not authorization[7:].strip():
            return resend_error(
                401, "missing_api_key", "Missing API key in the authorization header."
            )
        if not secrets.compare_digest(authorization[7:], self.api_key):
            return resend_error(403, "invalid_api_key", "API key is invalid")
        try:
            body = json.loads(await request.read())
        except ValueError:
            return resend_error(422, "validation_error", "Invalid JSON body.")

        key = request.headers.get("Idempotency-Key")
        fingerprint = request.path + "\n" + json.dumps(body, sort_keys=True)
        if key is not None:
            if not 1 <= len(key) <= 256:
                return resend_error(
                    400, "invalid_idempotency_key", "The key must be between 1-256 chars."
                )
            if key in self._idempotent:
                stored_fingerprint, status, stored = self._idempotent[key]
                if stored_fingerprint != fingerprint:
                    return resend_error(
                        409,
                        "invalid_idempotent_request",
                        "Same idempotency key used with a different request payload.",
                    )
                if batch:
                    self.tally(key_group(key)).replays += 1
                return web.json_response(stored, status=status)

        try:
            if batch:
                if not isinstance(body, list) or not body:
                    raise _Invalid(
                        "validation_error", "The request body must be a non-empty array."
                    )
                if len(body) > BATCH_LIMIT:
                    raise _Invalid(
                        "validation_error",
                        f"Too many emails in batch: at most {BATCH_LIMIT} per request.",
                    )
                for index, email in enumerate(body):
                    _validate_email(email, where=f"emails[{index}]: ")
            else:
                _validate_email(body)
        except _Invalid as invalid:
            return resend_error(422, invalid.name, invalid.message)

        emails = body if batch else [body]
        ids = [str(uuid.uuid4()) for _ in emails]
        self.sent.extend(
            {**email, "id": email_id} for email, email_id in zip(emails, ids, strict=True)
        )
        answer: Any = {"data": [{"id": email_id} for email_id in ids]} if batch else {"id": ids[0]}
        if key is not None:
            self._idempotent[key] = (fingerprint, 200, answer)
            if batch:
                self._count(key_group(key), emails, at=received)
        if self._lose:
            self._lose -= 1
            await asyncio.sleep(self.hang_seconds)
        return web.json_response(answer)

    def _count(self, group: str, emails: list[dict[str, Any]], *, at: float) -> None:
        tally = self.tally(group)
        tally.batches += 1
        tally.emails += len(emails)
        for email in emails:
            recipients = email["to"]
            tally.addresses.update(recipients if isinstance(recipients, list) else [recipients])
        tally.first_at = tally.first_at or at
        tally.last_at = at


@pytest.fixture
async def fake_resend() -> AsyncIterator[FakeResend]:
    """A running fake Resend, stopped after the test."""
    async with FakeResend() as fake:
        yield fake


def use_fake_resend(settings: Settings, fake: FakeResend, **update: Any) -> Settings:
    """`settings` sending email to the fake (1 s timeout; `update` wins)."""
    values: dict[str, Any] = {
        "email_backend": EmailBackend.RESEND,
        "resend_base_url": fake.url,
        "resend_api_key": SecretStr(fake.api_key),
        "email_timeout_seconds": 1.0,
    }
    return settings.model_copy(update=values | update)


@pytest.fixture
def resend_settings(settings: Settings, fake_resend: FakeResend) -> Settings:
    """This test's settings with email going to the fake Resend (1 s timeout)."""
    return use_fake_resend(settings, fake_resend)
