"""A small fake Resend for `umbrella bench`: it accepts and counts email, nothing else.

It speaks what `umbrella.integrations.email.ResendEmail` sends: `POST /emails` and
`POST /emails/batch` with `Authorization: Bearer <key>` and an `Idempotency-Key`, answering
`{"id"}` or `{"data": [{"id"}, …]}`. A repeated key with the same body gets the first answer
and is not counted again, as Resend does for 24 hours; with another body it gets 409.

Batches are tallied by the part of their key before the first "-": the broadcast engine's
keys are `b<broadcast id>-<hash of the rows>`, so one broadcast is one tally. The bench
cannot use tests/fakes/resend.py (the package must not import the tests); that one checks
every field Resend validates, this one only what a benchmark needs, and stays cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BATCH_LIMIT = 100  # as Resend: at most 100 emails per batch call
RECIPIENT_LIMIT = 50
THREAD_START_TIMEOUT_SECONDS = 10.0


@dataclass
class Tally:
    """The batches of one key group (one broadcast): emails, addresses, when they arrived.

    Times are `time.perf_counter()` values: one clock for the whole process, so a thread
    serving the fake and the bench's event loop can subtract them.
    """

    emails: int = 0
    batches: int = 0
    replays: int = 0
    addresses: set[str] = field(default_factory=set)
    first_at: float | None = None
    last_at: float | None = None

    @property
    def duplicates(self) -> int:
        """Emails to an address that had one already: a broadcast must send none."""
        return self.emails - len(self.addresses)


def key_group(idempotency_key: str) -> str:
    """The tally a batch counts in: its key up to the first "-"."""
    return idempotency_key.partition("-")[0]


def _error(status: int, name: str, message: str) -> web.Response:
    # Resend's error body.
    return web.json_response(
        {"statusCode": status, "name": name, "message": message}, status=status
    )


def _valid_email(email: object) -> bool:
    if not isinstance(email, dict):
        return False
    recipients = email.get("to")
    return (
        bool(email.get("from"))
        and bool(email.get("subject"))
        and ("text" in email or "html" in email)
        and isinstance(recipients, list)
        and 1 <= len(recipients) <= RECIPIENT_LIMIT
        and all(isinstance(to, str) and "@" in to for to in recipients)
    )


class FakeResend:
    """The fake's state and its aiohttp app; serve it with `start()` or `running_in_thread`."""

    def __init__(self, api_key: str | None = None) -> None:
        # A fresh random key per run: never a real one, never printed.
        self.api_key = api_key or f"re_bench_{secrets.token_urlsafe(24)}"
        self.port = 0
        self.requests = 0
        self.emails = 0  # accepted, replays not counted, both endpoints
        self.rejected = 0
        self._tallies: dict[str, Tally] = {}
        # Idempotency-Key -> (SHA-256 of the path and body, the answer given)
        self._answers: dict[str, tuple[str, Any]] = {}
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """UMBRELLA_* that point an api or a worker at this fake."""
        return {
            "UMBRELLA_EMAIL_BACKEND": "resend",
            "UMBRELLA_RESEND_BASE_URL": self.url,
            "UMBRELLA_RESEND_API_KEY": self.api_key,
        }

    def tally(self, group: str) -> Tally:
        """The live tally of a key group (an empty one until its first batch)."""
        return self._tallies.setdefault(group, Tally())

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024**2)
        app.router.add_post("/emails", self._single)
        app.router.add_post("/emails/batch", self._batch)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on the running event loop (port 0: a free one, then read `port`)."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _single(self, request: web.Request) -> web.Response:
        return await self._handle(request, batch=False)

    async def _batch(self, request: web.Request) -> web.Response:
        return await self._handle(request, batch=True)

    async def _handle(self, request: web.Request, *, batch: bool) -> web.Response:
        received = time.perf_counter()
        self.requests += 1
        authorization = request.headers.get("Authorization", "")
        if not authorization.startswith("Bearer "):
            self.rejected += 1
            return _error(401, "missing_api_key", "Missing API key in the authorization header.")
        if not secrets.compare_digest(authorization[7:].encode(), self.api_key.encode()):
            self.rejected += 1
            return _error(403, "invalid_api_key", "API key is invalid")
        raw = await request.read()
        key = request.headers.get("Idempotency-Key")
        fingerprint = hashlib.sha256(request.path.encode() + b"\n" + raw).hexdigest()
        if key is not None and key in self._answers:
            stored, first_answer = self._answers[key]
            if stored != fingerprint:
                self.rejected += 1
                return _error(
                    409,
                    "invalid_idempotent_request",
                    "Same idempotency key used with a different request payload.",
                )
            if batch:
                self.tally(key_group(key)).replays += 1
            return web.json_response(first_answer)
        try:
            body = json.loads(raw)
        except ValueError:
            self.rejected += 1
            return _error(422, "validation_error", "Invalid JSON body.")
        emails = body if batch else [body]
        if not isinstance(emails, list) or not 1 <= len(emails) <= BATCH_LIMIT:
            self.rejected += 1
            return _error(422, "validation_error", f"A batch holds 1 to {BATCH_LIMIT} emails.")
        if not all(_valid_email(email) for email in emails):
            self.rejected += 1
            return _error(422, "validation_error", "Invalid email object.")
        ids = [str(uuid.uuid4()) for _ in emails]
        answer: Any = {"data": [{"id": email_id} for email_id in ids]} if batch else {"id": ids[0]}
        if key is not None:
            self._answers[key] = (fingerprint, answer)
        self.emails += len(emails)
        if batch and key is not None:
            tally = self.tally(key_group(key))
            tally.batches += 1
            tally.emails += len(emails)
            tally.addresses.update(to for email in emails for to in email["to"])
            tally.first_at = tally.first_at or received
            tally.last_at = received
        return web.json_response(answer)


@contextlib.contextmanager
def running_in_thread(fake: FakeResend) -> Iterator[FakeResend]:
    """Serve the fake from a thread of its own for as long as the block lasts.

    The bench's own event loop only runs while it measures, but the worker may send email
    (notifications of the apply scenario) at any time, so the fake needs a loop that is
    always turning.
    """
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failures: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(fake.start())
        except BaseException as error:  # reported to the caller by the main thread
            failures.append(error)
            ready.set()
            loop.close()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(fake.stop())
        loop.close()

    thread = threading.Thread(target=serve, name="bench-fake-resend", daemon=True)
    thread.start()
    if not ready.wait(THREAD_START_TIMEOUT_SECONDS) or failures:
        raise RuntimeError(f"the fake Resend did not start: {failures[0] if failures else ''}")
    try:
        yield fake
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(THREAD_START_TIMEOUT_SECONDS)
