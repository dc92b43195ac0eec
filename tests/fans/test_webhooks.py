"""Twilio STOP/START and Resend bounces/complaints: signed by the provider, or nothing changes."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from pydantic import SecretStr
from twilio.request_validator import RequestValidator

from tests.fakes.twilio import FANS_FROM, TRANSACTIONAL_FROM, FakeTwilio, use_fake_twilio
from tests.fans.people import (
    CSV_HEADER,
    Client,
    artist_session,
    data_of,
    error_of,
    import_csv,
    make_list,
    sent_delivery,
    suppressions,
)
from umbrella.config import Settings
from umbrella.fans import suppressions as fan_suppressions
from umbrella.fans.tables import FanSuppression
from umbrella.fans.webhooks import svix_signature

TWILIO_PATH = "/v1/webhooks/twilio/inbound"
RESEND_PATH = "/v1/webhooks/resend"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"resend-webhook-test-secret-32byt").decode()
FAN = "+14155550123"


@pytest.fixture
def settings(settings: Settings, fake_twilio: FakeTwilio) -> Settings:
    """Twilio's auth token (of the fake) and a Resend webhook secret, behind a public origin."""
    return use_fake_twilio(
        settings,
        fake_twilio,
        public_base_url="https://api.umbrella.test",
        resend_webhook_secret=SecretStr(WEBHOOK_SECRET),
    )


async def text_in(
    client: Client, settings: Settings, body: str, *, to: str = FANS_FROM, sign: bool = True
) -> Any:
    params = {"From": FAN, "To": to, "Body": body, "MessageSid": "SM" + "0" * 32}
    assert settings.twilio_auth_token is not None
    validator = RequestValidator(settings.twilio_auth_token.get_secret_value())
    # Twilio signs the URL configured in its console: the public one, not the pod's.
    signature = validator.compute_signature(f"{settings.public_base_url}{TWILIO_PATH}", params)
    headers = {"X-Twilio-Signature": signature if sign else "bm90IGl0"}
    return await client.post(TWILIO_PATH, data=params, headers=headers)


async def fan_of_two_artists(client: Client) -> tuple[Any, Any, Any]:
    """Two artists with FAN on a list, and a third who already texted FAN."""
    first, first_headers = await artist_session(client, "First")
    second, second_headers = await artist_session(client, "Second")
    third, _ = await artist_session(client, "Third")
    for headers in (first_headers, second_headers):
        list_id = await make_list(client, headers)
        row = f"fan@example.com,{FAN},Fan,yes,yes,,\n"
        await data_of(await import_csv(client, headers, CSV_HEADER + row, list_id=list_id))
    await sent_delivery(third, channel="sms", address=FAN)
    return first, second, third


async def test_stop_then_start_for_every_artist_of_the_shared_sender(
    client: Client, settings: Settings
) -> None:
    artists = await fan_of_two_artists(client)
    # a bounce of the same number's email is another matter: START leaves it alone
    await fan_suppressions.suppress(
        artist_id=artists[0], channel="sms", address=FAN, reason="complaint"
    )
    response = await text_in(client, settings, "  stop ")
    assert response.status == 200
    assert response.content_type == "text/xml"
    assert (await response.text()).endswith("<Response/>")
    assert await suppressions(artists[0]) == {("sms", FAN, "complaint")}
    for artist in artists[1:]:
        assert await suppressions(artist) == {("sms", FAN, "stop")}
    # again: nothing more
    assert (await text_in(client, settings, "STOPALL")).status == 200
    assert await FanSuppression.count() == 3

    assert (await text_in(client, settings, "Start")).status == 200
    assert await suppressions() == {("sms", FAN, "complaint")}
    for word in ("unsubscribe", "END", "quit", "Cancel"):
        await text_in(client, settings, word)
        assert await FanSuppression.count() == 3, word
        await text_in(client, settings, "UNSTOP")
        assert await FanSuppression.count() == 1


async def test_other_texts_and_other_senders_change_nothing(
    client: Client, settings: Settings
) -> None:
    await fan_of_two_artists(client)
    for body in ("stop please", "HELP", "Love the new single!"):
        assert (await text_in(client, settings, body)).status == 200
    # a STOP to the booking number is Twilio's to honour for that number
    assert (await text_in(client, settings, "STOP", to=TRANSACTIONAL_FROM)).status == 200
    assert await suppressions() == set()


async def test_a_forged_twilio_signature_is_403_and_changes_nothing(
    client: Client, settings: Settings
) -> None:
    await fan_of_two_artists(client)
    forged = await text_in(client, settings, "STOP", sign=False)
    assert (await error_of(forged, 403))["field"] == "X-Twilio-Signature"
    unsigned = await client.post(TWILIO_PATH, data={"From": FAN, "To": FANS_FROM, "Body": "STOP"})
    assert (await error_of(unsigned, 403))["code"] == "FORBIDDEN"
    # signed for the pod's own URL instead of the public one: not what Twilio signs
    assert settings.twilio_auth_token is not None
    params = {"From": FAN, "To": FANS_FROM, "Body": "STOP"}
    wrong_url = RequestValidator(settings.twilio_auth_token.get_secret_value()).compute_signature(
        str(client.make_url(TWILIO_PATH)), params
    )
    response = await client.post(
        TWILIO_PATH, data=params, headers={"X-Twilio-Signature": wrong_url}
    )
    assert response.status == 403
    assert await suppressions() == set()


def svix_headers(
    body: bytes, *, at: float | None = None, secret: str = WEBHOOK_SECRET
) -> dict[str, str]:
    timestamp = str(int(at if at is not None else time.time()))
    msg_id = "msg_2Lh9KRb0pzN4LePd3XiA4"
    signature = svix_signature(secret, msg_id=msg_id, timestamp=timestamp, body=body)
    return {
        "svix-id": msg_id,
        "svix-timestamp": timestamp,
        # during a secret rotation Svix sends several
        "svix-signature": f"v1,b2xkIHNpZ25hdHVyZQ== {signature}",
        "Content-Type": "application/json",
    }


def resend_event(kind: str, *, email_id: str, to: str, bounce: str | None = None) -> bytes:
    data: dict[str, Any] = {
        "email_id": email_id,
        "from": "Luna Vega <no-reply@example.com>",
        "to": [to],
        "subject": "New single out Friday",
        "created_at": "2026-12-02T13:00:00.000Z",
    }
    if bounce:
        data["bounce"] = {"type": bounce, "subType": "General", "message": "No such user"}
    return json.dumps({"type": kind, "created_at": "2026-12-02T13:00:01Z", "data": data}).encode()


async def test_a_bounce_suppresses_for_the_artist_who_sent_it(
    client: Client, settings: Settings
) -> None:
    sender, _ = await artist_session(client, "Sender")
    bystander, headers = await artist_session(client, "Bystander")
    list_id = await make_list(client, headers)
    await data_of(
        await import_csv(
            client, headers, CSV_HEADER + "fan@example.com,,,yes,,,\n", list_id=list_id
        )
    )
    await sent_delivery(
        sender, channel="email", address="fan@example.com", provider_message_id="re_known"
    )
    body = resend_event(
        "email.bounced", email_id="re_known", to="Fan <FAN@example.com>", bounce="Permanent"
    )
    answer = await data_of(await client.post(RESEND_PATH, data=body, headers=svix_headers(body)))
    assert answer == {"suppressed": True, "reason": "bounce"}
    assert await suppressions(sender) == {("email", "fan@example.com", "bounce")}
    assert await suppressions(bystander) == set()

    # a soft bounce and other events: nothing
    for kind, bounce in [("email.bounced", "Transient"), ("email.delivered", None)]:
        other = resend_event(kind, email_id="re_other", to="fan@example.com", bounce=bounce)
        ignored = await data_of(
            await client.post(RESEND_PATH, data=other, headers=svix_headers(other))
        )
        assert ignored["suppressed"] is False

    # a complaint about an email we cannot place: every artist with that address
    unknown = resend_event("email.complained", email_id="re_unknown", to="fan@example.com")
    await data_of(await client.post(RESEND_PATH, data=unknown, headers=svix_headers(unknown)))
    assert await suppressions(bystander) == {("email", "fan@example.com", "complaint")}
    assert await suppressions(sender) == {("email", "fan@example.com", "bounce")}


async def test_a_forged_or_stale_resend_event_is_403_and_changes_nothing(
    client: Client, settings: Settings
) -> None:
    artist, _ = await artist_session(client)
    await sent_delivery(
        artist, channel="email", address="fan@example.com", provider_message_id="re_1"
    )
    body = resend_event("email.complained", email_id="re_1", to="fan@example.com")
    other_secret = "whsec_" + base64.b64encode(b"another-secret-another-secret-32").decode()
    cases: list[tuple[dict[str, str], bytes, str]] = [
        (svix_headers(body, secret=other_secret), body, "svix-signature"),
        (svix_headers(body), body.replace(b"re_1", b"re_2"), "svix-signature"),
        (svix_headers(body, at=time.time() - 6 * 60), body, "svix-timestamp"),
        (svix_headers(body, at=time.time() + 6 * 60), body, "svix-timestamp"),
        ({"Content-Type": "application/json"}, body, "svix-signature"),
    ]
    for headers, sent, field in cases:
        response = await client.post(RESEND_PATH, data=sent, headers=headers)
        assert (await error_of(response, 403))["field"] == field
    assert await suppressions() == set()
    # a signed body that is no event
    junk = b"not json"
    assert (await client.post(RESEND_PATH, data=junk, headers=svix_headers(junk))).status == 400


async def test_webhooks_answer_503_until_configured(settings: Settings) -> None:
    from tests.conftest import start_client
    from umbrella.app import create_app

    bare = settings.model_copy(update={"resend_webhook_secret": None, "twilio_auth_token": None})
    client = await start_client(create_app(bare))
    try:
        body = resend_event("email.complained", email_id="re_1", to="fan@example.com")
        response = await client.post(RESEND_PATH, data=body, headers=svix_headers(body))
        assert (await error_of(response, 503))["code"] == "SERVICE_UNAVAILABLE"
        texted = await client.post(TWILIO_PATH, data={"From": FAN, "Body": "STOP"})
        assert (await error_of(texted, 503))["code"] == "SERVICE_UNAVAILABLE"
    finally:
        await client.close()
