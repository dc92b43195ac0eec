"""Email through Resend (a local fake speaking its API) and the console backend."""

from __future__ import annotations

import logging
import time

import pytest
from pydantic import SecretStr

from tests.fakes.resend import FakeResend
from tests.metrics import provider_outcomes
from umbrella.config import EmailBackend, Settings
from umbrella.devstack import free_port
from umbrella.integrations.base import ProviderError
from umbrella.integrations.email import (
    BATCH_LIMIT,
    EmailMessage,
    ResendEmail,
    email_sender,
)
from umbrella.observability.metrics import Metrics

UNSUBSCRIBE = "https://umbrella.example/v1/unsubscribe/tok_123"


def message(to: str = "fan@example.net", **overrides: object) -> EmailMessage:
    values: dict[str, object] = {
        "to": to,
        "subject": "Your booking is confirmed",
        "text": "See you at the Blue Room on Friday.",
    }
    values.update(overrides)
    return EmailMessage(**values)  # type: ignore[arg-type]


async def test_a_message_reaches_resend_with_its_json_auth_and_idempotency_key(
    resend_settings: Settings, fake_resend: FakeResend
) -> None:
    async with email_sender(resend_settings, Metrics()) as sender:
        email_id = await sender.send(message(), idempotency_key="booking-confirmed/42")

    [request] = fake_resend.received("/emails")
    assert request.headers["Authorization"] == f"Bearer {fake_resend.api_key}"
    assert request.headers["Idempotency-Key"] == "booking-confirmed/42"
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.json() == {
        "from": "Umbrella <no-reply@example.com>",
        "to": ["fan@example.net"],
        "subject": "Your booking is confirmed",
        "text": "See you at the Blue Room on Friday.",
    }
    assert [email["id"] for email in fake_resend.sent] == [email_id]


async def test_sender_name_reply_to_and_tags_are_sent_as_resend_expects(
    resend_settings: Settings, fake_resend: FakeResend
) -> None:
    settings = resend_settings.model_copy(update={"email_reply_to": "help@umbrella.example"})
    async with email_sender(settings, Metrics()) as sender:
        await sender.send(message(), idempotency_key="k1")
        await sender.send(
            message(
                from_name='Luna "LV" Vega, live',
                reply_to="luna@artist.example",
                subject="New show\r\nBcc: everyone@example.com",
                tags={"kind": "broadcast", "broadcast_id": "b-17"},
            ),
            idempotency_key="k2",
        )

    transactional, artist = fake_resend.sent
    assert transactional["reply_to"] == ["help@umbrella.example"]
    # A comma or quote in an artist's name is quoted, not read as a second address.
    assert artist["from"] == '"Luna \\"LV\\" Vega, live" <no-reply@example.com>'
    assert artist["reply_to"] == ["luna@artist.example"]
    assert artist["subject"] == "New show Bcc: everyone@example.com"  # no header injection
    assert artist["tags"] == [
        {"name": "kind", "value": "broadcast"},
        {"name": "broadcast_id", "value": "b-17"},
    ]


async def test_bulk_mail_carries_one_click_unsubscribe_and_transactional_mail_does_not(
    resend_settings: Settings, fake_resend: FakeResend
) -> None:
    async with email_sender(resend_settings, Metrics()) as sender:
        await sender.send(message(), idempotency_key="transactional")
        await sender.send(message(unsubscribe_url=UNSUBSCRIBE), idempotency_key="bulk")

    transactional, bulk = fake_resend.sent
    assert "headers" not in transactional
    assert bulk["headers"] == {
        "List-Unsubscribe": f"<{UNSUBSCRIBE}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


async def test_a_full_batch_is_one_call_and_one_more_is_refused_before_sending(
    resend_settings: Settings, fake_resend: FakeResend
) -> None:
    # Resend's batch endpoint takes at most 100 emails per call.
    full = [message(f"fan{i}@example.net", unsubscribe_url=UNSUBSCRIBE) for i in range(BATCH_LIMIT)]
    async with email_sender(resend_settings, Metrics()) as sender:
        ids = await sender.send_batch(full, idempotency_key="broadcast-7/0")
        with pytest.raises(ValueError, match="at most 100"):
            await sender.send_batch([*full, message()], idempotency_key="broadcast-7/1")
        assert await sender.send_batch([], idempotency_key="broadcast-7/2") == []

    [request] = fake_resend.received("/emails/batch")
    assert request.headers["Idempotency-Key"] == "broadcast-7/0"
    assert len(request.json()) == BATCH_LIMIT
    assert ids == [email["id"] for email in fake_resend.sent]
    assert [email["to"] for email in fake_resend.sent] == [[m.to] for m in full]
    assert all("List-Unsubscribe" in email["headers"] for email in fake_resend.sent)


async def test_a_retry_after_a_lost_response_does_not_send_twice(
    resend_settings: Settings, fake_resend: FakeResend
) -> None:
    fake_resend.lose_responses(1)  # Resend sends, then the answer never arrives
    settings = resend_settings.model_copy(update={"email_timeout_seconds": 0.5})
    async with email_sender(settings, Metrics()) as sender:
        with pytest.raises(ProviderError) as lost:
            await sender.send(message(), idempotency_key="booking-confirmed/42")
        assert lost.value.retryable
        email_id = await sender.send(message(), idempotency_key="booking-confirmed/42")

    assert len(fake_resend.received("/emails")) == 2
    assert [email["id"] for email in fake_resend.sent] == [email_id]


async def test_a_batch_retried_after_a_lost_response_does_not_send_twice(
    resend_settings: Settings, fake_resend: FakeResend
) -> None:
    batch = [message(f"fan{i}@example.net") for i in range(3)]
    fake_resend.lose_responses(1)
    settings = resend_settings.model_copy(update={"email_timeout_seconds": 0.5})
    async with email_sender(settings, Metrics()) as sender:
        with pytest.raises(ProviderError):
            await sender.send_batch(batch, idempotency_key="broadcast-9/0")
        ids = await sender.send_batch(batch, idempotency_key="broadcast-9/0")

    assert len(fake_resend.sent) == 3
    assert ids == [email["id"] for email in fake_resend.sent]


async def test_reusing_a_key_for_another_message_is_a_permanent_error(
    resend_settings: Settings, fake_resend: FakeResend
) -> None:
    async with email_sender(resend_settings, Metrics()) as sender:
        await sender.send(message(), idempotency_key="same")
        with pytest.raises(ProviderError) as conflict:
            await sender.send(message(subject="Something else"), idempotency_key="same")

    assert conflict.value.status == 409
    assert not conflict.value.retryable
    assert "invalid_idempotent_request" in str(conflict.value)
    assert len(fake_resend.sent) == 1


@pytest.mark.parametrize(
    ("kind", "status"), [("500", 500), ("429", 429), ("timeout", None), ("malformed", 200)]
)
async def test_transient_failures_are_retryable(
    resend_settings: Settings, fake_resend: FakeResend, kind: str, status: int | None
) -> None:
    fake_resend.fail(kind)  # type: ignore[arg-type]
    metrics = Metrics()
    settings = resend_settings.model_copy(update={"email_timeout_seconds": 0.5})
    async with email_sender(settings, metrics) as sender:
        started = time.monotonic()
        with pytest.raises(ProviderError) as failure:
            await sender.send(message(), idempotency_key="k")
        assert time.monotonic() - started < 3  # the 0.5 s timeout, not the fake's 30 s hang
        assert failure.value.retryable
        assert failure.value.status == status
        assert failure.value.provider == "resend"
        # The retry Resend's idempotency makes safe goes through.
        await sender.send(message(), idempotency_key="k")
    counted = provider_outcomes(metrics, "resend")
    assert counted == {
        "success": 1,
        "retryable_error": 1,
        "permanent_error": 0,
    }


async def test_an_unreachable_resend_is_retryable(resend_settings: Settings) -> None:
    closed = resend_settings.model_copy(
        update={"resend_base_url": f"http://127.0.0.1:{free_port()}"}
    )
    async with email_sender(closed, Metrics()) as sender:
        with pytest.raises(ProviderError) as failure:
            await sender.send(message(), idempotency_key="k")
    assert failure.value.retryable


async def test_a_rejected_message_is_a_permanent_error(
    resend_settings: Settings, fake_resend: FakeResend
) -> None:
    unverified = resend_settings.model_copy(update={"email_from_address": "not-an-address"})
    metrics = Metrics()
    async with email_sender(unverified, metrics) as sender:
        with pytest.raises(ProviderError) as failure:
            await sender.send(message(), idempotency_key="k")
    assert failure.value.status == 422
    assert not failure.value.retryable
    assert fake_resend.sent == []
    counted = provider_outcomes(metrics, "resend")
    assert counted == {
        "success": 0,
        "retryable_error": 0,
        "permanent_error": 1,
    }


async def test_a_bad_api_key_is_permanent_and_never_logged(
    resend_settings: Settings, fake_resend: FakeResend, caplog: pytest.LogCaptureFixture
) -> None:
    wrong_key = "re_wrong_" + "x" * 24
    body = "Secret setlist: the new single, live for the first time."
    settings = resend_settings.model_copy(update={"resend_api_key": SecretStr(wrong_key)})
    caplog.set_level(logging.DEBUG)
    async with email_sender(settings, Metrics()) as sender:
        with pytest.raises(ProviderError) as failure:
            await sender.send(message(text=body), idempotency_key="k")

    assert failure.value.status == 403
    assert not failure.value.retryable
    assert "invalid_api_key" in str(failure.value)
    for text in (str(failure.value), caplog.text):
        assert wrong_key not in text
        assert fake_resend.api_key not in text
        assert body not in text
    assert fake_resend.sent == []


async def test_messages_and_keys_resend_would_refuse_are_refused_before_sending(
    resend_settings: Settings, fake_resend: FakeResend
) -> None:
    with pytest.raises(ValueError, match="one email address"):
        message("Two <a@example.net>, b@example.net")
    with pytest.raises(ValueError, match="tag"):
        message(tags={"kind": "fan broadcast"})
    with pytest.raises(ValueError, match="unsubscribe_url"):
        message(unsubscribe_url="mailto:stop@example.net")
    async with email_sender(resend_settings, Metrics()) as sender:
        with pytest.raises(ValueError, match="idempotency_key"):
            await sender.send(message(), idempotency_key="")
        with pytest.raises(ValueError, match="idempotency_key"):
            await sender.send(message(), idempotency_key="k" * 257)
    assert fake_resend.requests == []


async def test_the_console_backend_logs_and_sends_nothing(
    settings: Settings, fake_resend: FakeResend, caplog: pytest.LogCaptureFixture
) -> None:
    console = settings.model_copy(
        update={"email_backend": EmailBackend.CONSOLE, "resend_base_url": fake_resend.url}
    )
    caplog.set_level(logging.INFO, logger="umbrella.integrations.email")
    async with email_sender(console, Metrics()) as sender:
        assert not isinstance(sender, ResendEmail)
        email_id = await sender.send(message(), idempotency_key="k")
        batch_ids = await sender.send_batch(
            [message("a@example.net"), message("b@example.net")], idempotency_key="b"
        )
        with pytest.raises(ValueError, match="at most 100"):
            await sender.send_batch([message()] * (BATCH_LIMIT + 1), idempotency_key="c")

    assert email_id.startswith("console-")
    assert len(set(batch_ids)) == 2
    assert all(batch_id.startswith("console-") for batch_id in batch_ids)
    assert fake_resend.requests == []
    assert "fan@example.net" in caplog.text
    assert "Your booking is confirmed" in caplog.text
    assert "See you at the Blue Room on Friday." in caplog.text  # the point of this backend
    assert "b@example.net" in caplog.text


async def test_every_call_is_counted_by_outcome(
    resend_settings: Settings, fake_resend: FakeResend
) -> None:
    metrics = Metrics()
    async with email_sender(resend_settings, metrics) as sender:
        await sender.send(message(), idempotency_key="a")
        await sender.send_batch([message(), message()], idempotency_key="b")
        fake_resend.fail("500")
        with pytest.raises(ProviderError):
            await sender.send(message(), idempotency_key="c")
        with pytest.raises(ProviderError):
            await sender.send(message(subject="other"), idempotency_key="a")  # 409

    counted = provider_outcomes(metrics, "resend")

    assert counted == {
        "success": 2,
        "retryable_error": 1,
        "permanent_error": 1,
    }
    rendered = metrics.render().decode()
    assert 'umbrella_external_requests_total{outcome="success",provider="resend"} 2.0' in rendered
