"""Fake Twilio: the Messages API (`POST /2010-04-01/Accounts/{sid}/Messages.json`).

Form bodies, HTTP Basic auth with the account SID and auth token, Twilio's error codes
for a bad or unsubscribed 'To', and the message resource JSON back. Accepted messages
land in `sent` with `received_at` (time.monotonic()) so rate tests can measure.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from tests.fakes.base import FailureKind, FakeServer
from umbrella.config import Settings, SmsBackend

API_VERSION = "2010-04-01"
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
MESSAGING_SERVICE_SID = re.compile(r"MG[0-9a-f]{32}")
MAX_BODY = 1600


def twilio_error(status: int, code: int, message: str) -> web.Response:
    """Twilio's error body: `{"code", "message", "more_info", "status"}`."""
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


def new_sid(prefix: str) -> str:
    """A Twilio SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


class FakeTwilio(FakeServer):
    name = "twilio"

    def __init__(self, account_sid: str | None = None, auth_token: str | None = None) -> None:
        super().__init__()
        self.account_sid = account_sid or new_sid("AC")
        self.auth_token = auth_token or secrets.token_hex(16)
        self.sent: list[dict[str, Any]] = []
        # Recipients who texted STOP to us: Twilio refuses them with 21610.
        self.unsubscribed: set[str] = set()

    @property
    def messages_path(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(f"/{API_VERSION}/Accounts/{{account_sid}}/Messages.json", self._create)

    def failure_response(self, kind: FailureKind) -> web.Response:
        if kind == "429":
            return twilio_error(429, 20429, "Too Many Requests")
        return twilio_error(500, 20500, "Internal Server Error")

    def _authenticated(self, request: web.Request) -> bool:
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(user, self.account_sid) and secrets.compare_digest(
            password, self.auth_token
        )

    async def _create(self, request: web.Request) -> web.StreamResponse:
        received_at = time.monotonic()
        if not self._authenticated(request):
            return twilio_error(401, 20003, "Authenticate")
        if request.match_info["account_sid"] != self.account_sid:
            return twilio_error(404, 20404, f"The requested resource {request.path} was not found")
        form = await request.post()
        to = str(form.get("To", ""))
        from_ = str(form.get("From", ""))
        service = str(form.get("MessagingServiceSid", ""))
        body = str(form.get("Body", ""))
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not from_ and not service:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if service and not MESSAGING_SERVICE_SID.fullmatch(service):
            return twilio_error(400, 21701, f"The Messaging Service Sid {service} is invalid.")
        if from_ and not E164.fullmatch(from_):
            return twilio_error(400, 21212, f"Invalid 'From' Phone Number: {from_}")
        if not body:
            return twilio_error(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY:
            return twilio_error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if not E164.fullmatch(to):
            return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if to in self.unsubscribed:
            return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")

        sid = new_sid("SM")
        self.sent.append(
            {
                "sid": sid,
                "To": to,
                "From": from_ or None,
                "MessagingServiceSid": service or None,
                "Body": body,
                "received_at": received_at,
            }
        )
        now = format_datetime(datetime.now(UTC), usegmt=True)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        return web.json_response(
            {
                "account_sid": self.account_sid,
                "api_version": API_VERSION,
                "body": body,
                "date_created": now,
                "date_sent": None,
                "date_updated": now,
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": from_ or None,
                "messaging_service_sid": service or None,
                "num_media": "0",
                "num_segments": "1",
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                # A Messaging Service picks the sender later: Twilio says "accepted" until then.
                "status": "queued" if from_ else "accepted",
                "subresource_uris": {"media": f"{uri}/Media.json"},
                "to": to,
                "uri": f"{uri}.json",
            },
            status=201,
        )


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    """A running fake Twilio, stopped after the test."""
    async with FakeTwilio() as fake:
        yield fake


# Senders of the twilio_settings fixture: a number for bookings, another for fans.
TRANSACTIONAL_FROM = "+14155550100"
FANS_FROM = "+14155550199"


def use_fake_twilio(settings: Settings, fake: FakeTwilio, **update: Any) -> Settings:
    """`settings` sending texts to the fake (1 s timeout; `update` wins)."""
    values: dict[str, Any] = {
        "sms_backend": SmsBackend.TWILIO,
        "twilio_base_url": fake.url,
        "twilio_account_sid": fake.account_sid,
        "twilio_auth_token": SecretStr(fake.auth_token),
        "sms_from_transactional": TRANSACTIONAL_FROM,
        "sms_from_fans": FANS_FROM,
        "sms_timeout_seconds": 1.0,
    }
    return settings.model_copy(update=values | update)


@pytest.fixture
def twilio_settings(settings: Settings, fake_twilio: FakeTwilio) -> Settings:
    """This test's settings with texts going to the fake Twilio (1 s timeout)."""
    return use_fake_twilio(settings, fake_twilio)
