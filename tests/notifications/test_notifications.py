"""Notifications: queued with the business write, sent once by the worker, outcome recorded."""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal
from uuid import UUID

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pgqueuer.adapters.tracing.opentelemetry import OpenTelemetryTracing
from piccolo.engine.postgres import PostgresEngine

from tests.conftest import run_umbrella, subprocess_env
from tests.factories import make_user
from tests.fakes.resend import FakeResend, use_fake_resend
from tests.fakes.twilio import FakeTwilio, use_fake_twilio
from tests.metrics import sample
from tests.workers import eventually, in_process_worker, queue_rows
from umbrella.config import Settings
from umbrella.notifications import service as notifications
from umbrella.notifications.tables import Notification
from umbrella.notifications.templates import BookingPayload, InvalidPayload

ARTIST_PHONE = "+14155550101"
VENUE_PHONE = "+14155550102"


def booking(audience: Literal["artist", "venue"]) -> BookingPayload:
    return BookingPayload(
        audience=audience,
        artist_name="Luna Vega",
        venue_name="The Blue Room",
        gig_title="Friday Jazz Night",
        gig_date="Fri, December 11, 2026, 9:00 PM",
        city="Austin",
    )


async def notification(notification_id: UUID) -> dict[str, Any]:
    row = await Notification.select().where(Notification.id == notification_id).first()
    assert row is not None
    return row


async def status_of(notification_id: UUID) -> str:
    return str((await notification(notification_id))["status"])


@pytest.fixture
async def providers(
    settings: Settings, fake_resend: FakeResend, fake_twilio: FakeTwilio
) -> Settings:
    """This test's settings with email and SMS going to the local Resend and Twilio fakes."""
    return use_fake_twilio(
        use_fake_resend(settings, fake_resend, email_timeout_seconds=2.0),
        fake_twilio,
        sms_timeout_seconds=2.0,
    )


async def test_preferences_decide_what_is_queued(db: PostgresEngine) -> None:
    texts_off = await make_user(phone=ARTIST_PHONE, notify_sms=False)
    no_phone = await make_user(role="venue")
    emails_off = await make_user(phone=VENUE_PHONE, notify_email=False)

    queued = await notifications.notify_user(
        user_id=texts_off,
        kind="booking_confirmation",
        payload=booking("artist"),
        channels=("email", "sms"),
    )
    assert [(await notification(i))["channel"] for i in queued] == ["email"]
    queued = await notifications.notify_user(
        user_id=no_phone,
        kind="booking_confirmation",
        payload=booking("venue"),
        channels=("email", "sms"),
    )
    assert [(await notification(i))["channel"] for i in queued] == ["email"]
    queued = await notifications.notify_user(
        user_id=emails_off,
        kind="booking_confirmation",
        payload=booking("venue"),
        channels=("email", "sms"),
    )
    assert [(await notification(i))["channel"] for i in queued] == ["sms"]
    assert len(await queue_rows(db)) == 3
    assert (
        await notifications.notify_user(user_id=uuid.uuid4(), kind="welcome", payload={"name": "x"})
        == []
    )


async def test_bad_payloads_and_channels_write_nothing(db: PostgresEngine) -> None:
    user_id = await make_user(phone=ARTIST_PHONE)
    with pytest.raises(InvalidPayload, match="booking_confirmation"):
        await notifications.notify_user(
            user_id=user_id, kind="booking_confirmation", payload={"audience": "artist"}
        )
    with pytest.raises(InvalidPayload, match="not sent by sms"):
        await notifications.notify_user(
            user_id=user_id, kind="welcome", payload={"name": "Luna"}, channels=("sms",)
        )
    with pytest.raises(InvalidPayload, match="unknown notification kind"):
        await notifications.notify_user(user_id=user_id, kind="party", payload={})
    assert await Notification.count() == 0
    assert await queue_rows(db) == []


async def test_a_rolled_back_write_queues_no_notification(db: PostgresEngine) -> None:
    user_id = await make_user()

    class Abort(Exception):
        pass

    async def welcome_then_fail() -> None:
        async with db.transaction():
            await notifications.notify_user(
                user_id=user_id, kind="welcome", payload={"name": "Luna"}
            )
            assert await Notification.count() == 1  # visible inside
            raise Abort

    with pytest.raises(Abort):
        await welcome_then_fail()
    assert await Notification.count() == 0
    assert await queue_rows(db) == []


async def test_booking_confirmation_reaches_both_parties_by_email_and_sms(
    db: PostgresEngine, providers: Settings, fake_resend: FakeResend, fake_twilio: FakeTwilio
) -> None:
    artist = await make_user(phone=ARTIST_PHONE)
    venue = await make_user(role="venue", phone=VENUE_PHONE)
    async with db.transaction():  # as the accept use case will: one transaction, four sends
        ids = await notifications.notify_user(
            user_id=artist,
            kind="booking_confirmation",
            payload=booking("artist"),
            channels=("email", "sms"),
        )
        ids += await notifications.notify_user(
            user_id=venue,
            kind="booking_confirmation",
            payload=booking("venue"),
            channels=("email", "sms"),
        )
    async with in_process_worker(providers):
        await eventually(lambda: _all_sent(ids), what="all four sent")

    subjects = sorted(email["subject"] for email in fake_resend.sent)
    assert (
        subjects == ["Booking confirmed: Friday Jazz Night on Fri, December 11, 2026, 9:00 PM"] * 2
    )
    bodies = " ".join(email["text"] for email in fake_resend.sent)
    assert "You're booked! The Blue Room accepted your application" in bodies
    assert "You booked Luna Vega for Friday Jazz Night" in bodies
    for email in fake_resend.sent:
        assert "List-Unsubscribe" not in (email.get("headers") or {})  # transactional mail
    texts = {message["To"]: message["Body"] for message in fake_twilio.sent}
    assert set(texts) == {ARTIST_PHONE, VENUE_PHONE}
    assert "you're booked" in texts[ARTIST_PHONE]
    assert "Luna Vega is booked" in texts[VENUE_PHONE]
    for notification_id in ids:
        row = await notification(notification_id)
        assert row["attempts"] == 1
        assert row["provider_message_id"]
        assert row["last_error"] is None


async def _all_sent(ids: list[UUID]) -> bool:
    return all([await _is_sent(i) for i in ids])


async def _is_sent(notification_id: UUID) -> bool:
    return await status_of(notification_id) == "sent"


async def test_a_provider_failing_twice_then_succeeding_sends_exactly_once(
    db: PostgresEngine, providers: Settings, fake_resend: FakeResend
) -> None:
    user_id = await make_user()
    [notification_id] = await notifications.notify_user(
        user_id=user_id, kind="welcome", payload={"name": "Luna"}
    )
    fake_resend.fail("500", times=1)
    fake_resend.fail("timeout", times=1)
    async with in_process_worker(providers) as metrics:
        await eventually(lambda: _is_sent(notification_id), what="sent after two failures")
        await eventually(lambda: _queue_empty(db), what="the job leaves the queue")

    assert len(fake_resend.sent) == 1
    assert fake_resend.sent[0]["subject"] == "Welcome to Umbrella, Luna"
    tries = fake_resend.received("/emails")
    assert len(tries) == 3
    assert {r.headers["Idempotency-Key"] for r in tries} == {f"notification/{notification_id}"}
    row = await notification(notification_id)
    assert row["attempts"] == 3
    assert row["last_error"] is None
    assert sample(metrics, "umbrella_jobs_total", task="send_notification", outcome="retried") == 2
    succeeded = sample(
        metrics, "umbrella_jobs_total", task="send_notification", outcome="succeeded"
    )
    assert succeeded == 1


async def _queue_empty(db: PostgresEngine) -> bool:
    return await queue_rows(db) == []


async def test_a_job_that_always_fails_is_held_and_an_operator_retries_it(
    db: PostgresEngine, providers: Settings, fake_resend: FakeResend
) -> None:
    providers = providers.model_copy(update={"job_max_attempts": 2})
    user_id = await make_user()
    [notification_id] = await notifications.notify_user(
        user_id=user_id, kind="welcome", payload={"name": "Luna"}
    )
    fake_resend.fail("500", times=100)
    async with in_process_worker(providers):
        await eventually(lambda: _held(db), what="the job is held as failed")
    row = await notification(notification_id)
    assert row["status"] == "failed"
    assert row["attempts"] == 2
    assert "500" in row["last_error"]
    assert len(fake_resend.received("/emails")) == 2
    assert fake_resend.sent == []

    env = subprocess_env(providers)
    listed = await run_umbrella("admin", "jobs", "failed", env=env)
    assert listed.code == 0, listed.stderr
    [job] = await queue_rows(db)
    assert f"{job['id']:>8}  send_notification" in listed.stdout
    assert "ProviderError: resend:" in listed.stdout
    assert "500" in listed.stdout

    too_many = await run_umbrella("admin", "jobs", "failed", "--limit", "0", env=env)
    assert too_many.code == 2
    assert "--limit: must be between 1 and 1000" in too_many.stderr
    neither = await run_umbrella("admin", "jobs", "retry", env=env)
    assert neither.code == 2
    assert "give job ids or --all" in neither.stderr

    fake_resend.heal()
    retried = await run_umbrella("admin", "jobs", "retry", str(job["id"]), env=env)
    assert retried.code == 0, retried.stderr
    assert f"re-queued 1 job(s): {job['id']}" in retried.stdout
    again = await run_umbrella("admin", "jobs", "retry", str(job["id"]), env=env)
    assert again.code == 1
    assert f"not held as failed: {job['id']}" in again.stderr

    async with in_process_worker(providers):
        await eventually(lambda: _is_sent(notification_id), what="sent after the retry")
    assert len(fake_resend.sent) == 1
    assert (await run_umbrella("admin", "jobs", "failed", env=env)).stdout.strip() == (
        "no jobs are held as failed"
    )


async def _held(db: PostgresEngine) -> bool:
    return [r["status"] for r in await queue_rows(db)] == ["failed"]


async def test_a_message_the_provider_refuses_is_held_at_once(
    db: PostgresEngine, providers: Settings, fake_twilio: FakeTwilio
) -> None:
    user_id = await make_user(phone="+1415555010")  # one digit short: Twilio answers 21211
    [notification_id] = await notifications.notify_user(
        user_id=user_id, kind="booking_confirmation", payload=booking("artist"), channels=("sms",)
    )
    async with in_process_worker(providers):
        await eventually(lambda: _held(db), what="held without retries")
    row = await notification(notification_id)
    assert row["status"] == "failed"
    assert row["attempts"] == 1
    assert fake_twilio.sent == []


async def test_the_request_trace_continues_in_the_worker(
    db: PostgresEngine, providers: Settings, fake_resend: FakeResend
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    user_id = await make_user()

    with tracer.start_as_current_span("POST /v1/onboarding/artists/step5") as request_span:
        [notification_id] = await notifications.notify_user(
            user_id=user_id, kind="welcome", payload={"name": "Luna"}
        )
    trace_id = request_span.get_span_context().trace_id
    [job] = await queue_rows(db)
    assert f"{trace_id:032x}" in str(job["headers"])  # the trace context travels with the job

    async with in_process_worker(providers, tracer=OpenTelemetryTracing(tracer=tracer)):
        await eventually(lambda: _is_sent(notification_id), what="sent")
    [process] = [s for s in exporter.get_finished_spans() if s.name == "process send_notification"]
    assert process.context.trace_id == trace_id


async def test_review_invitations_go_to_any_address(
    db: PostgresEngine, providers: Settings, fake_resend: FakeResend
) -> None:
    notification_id = await notifications.notify_email_address(
        email="fan@example.org",
        kind="review_invitation",
        payload={
            "artist_name": "Luna Vega",
            "review_url": "https://app.example.com/review/abc123",
            "expires_on": "December 7, 2026",
        },
    )
    async with in_process_worker(providers):
        await eventually(lambda: _is_sent(notification_id), what="sent")
    [email] = fake_resend.sent
    assert email["to"] == ["fan@example.org"]
    assert email["subject"] == "Luna Vega asked you for a review"
    assert "https://app.example.com/review/abc123" in email["text"]
    assert "works once" in email["text"]
    row = await notification(notification_id)
    assert row["user_id"] is None
    # The single-use link is not kept once the email is out (tokens are never stored in clear).
    assert "abc123" not in row["payload"]
    assert json.loads(row["payload"])["artist_name"] == "Luna Vega"
