"""Texts through Twilio (a local fake speaking its API), the shared rate limit and the console."""

from __future__ import annotations

import asyncio
import base64
import bisect
import logging
import sys
import time

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from tests.conftest import REPO_ROOT, Servers, subprocess_env
from tests.fakes.twilio import FANS_FROM, TRANSACTIONAL_FROM, FakeTwilio, new_sid
from tests.metrics import provider_outcomes
from umbrella.config import Settings, SmsBackend
from umbrella.core import cache
from umbrella.devstack import DevStack, free_port
from umbrella.integrations.base import ProviderError
from umbrella.integrations.ratelimit import SharedRateLimiter
from umbrella.integrations.sms import (
    RATE_LIMIT_KEY,
    InvalidPhoneNumber,
    SmsMessage,
    TwilioSms,
    normalize_e164,
    sms_sender,
)
from umbrella.observability.metrics import Metrics

FAN = "+14155550123"


def most_in_one_second(times: list[float]) -> int:
    """The most arrivals inside any window [t, t + 1 s)."""
    times = sorted(times)
    return max(bisect.bisect_left(times, start + 1.0) - i for i, start in enumerate(times))


@pytest.mark.parametrize(
    ("written", "region", "e164"),
    [
        ("+1 (415) 555-0100", None, "+14155550100"),
        ("+14155550100", None, "+14155550100"),
        ("  +44 20 7946 0958 ", None, "+442079460958"),
        ("(415) 555-0100", "US", "+14155550100"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("+49 30 901820", None, "+4930901820"),
    ],
)
def test_common_ways_of_writing_a_number_normalize_to_e164(
    written: str, region: str | None, e164: str
) -> None:
    assert normalize_e164(written, region) == e164


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("(415) 555-0100", "country code"),  # no + and no default region
        ("hello", "not a phone number"),
        ("+1 415 555", "not a valid number"),
        ("+1 415 555 01000", "not a valid number"),
        ("+999 1234567", "country code"),
        ("", "not a phone number"),
    ],
)
def test_numbers_no_carrier_would_take_are_refused_with_a_reason(written: str, reason: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match=reason) as refused:
        normalize_e164(written)
    assert isinstance(refused.value, ValueError)


async def test_texts_reach_twilio_with_basic_auth_and_the_sender_of_their_purpose(
    twilio_settings: Settings, fake_twilio: FakeTwilio, redis_client: Redis
) -> None:
    async with sms_sender(twilio_settings, Metrics(), redis_client) as sender:
        booking = await sender.send(
            SmsMessage(to="+1 (415) 555-0123", body="Gig confirmed", purpose="transactional")
        )
        fan = await sender.send(SmsMessage(to=FAN, body="New show Friday", purpose="fan"))

    [first, second] = fake_twilio.received(fake_twilio.messages_path)
    credentials = f"{fake_twilio.account_sid}:{fake_twilio.auth_token}".encode()
    assert first.headers["Authorization"] == "Basic " + base64.b64encode(credentials).decode()
    assert first.form() == {"To": [FAN], "From": [TRANSACTIONAL_FROM], "Body": ["Gig confirmed"]}
    assert second.form() == {"To": [FAN], "From": [FANS_FROM], "Body": ["New show Friday"]}
    assert [text["sid"] for text in fake_twilio.sent] == [booking, fan]
    assert booking.startswith("SM")
    assert len(booking) == 34


async def test_a_messaging_service_sender_is_sent_as_messaging_service_sid(
    twilio_settings: Settings, fake_twilio: FakeTwilio, redis_client: Redis
) -> None:
    service = new_sid("MG")
    settings = twilio_settings.model_copy(update={"sms_from_fans": service})
    async with sms_sender(settings, Metrics(), redis_client) as sender:
        await sender.send(SmsMessage(to=FAN, body="Tickets are live", purpose="fan"))
        await sender.send(SmsMessage(to=FAN, body="Soundcheck at 6", purpose="transactional"))

    fan, booking = fake_twilio.received(fake_twilio.messages_path)
    assert fan.form() == {
        "To": [FAN],
        "MessagingServiceSid": [service],
        "Body": ["Tickets are live"],
    }
    assert booking.form()["From"] == [TRANSACTIONAL_FROM]
    assert "MessagingServiceSid" not in booking.form()


async def test_fans_share_the_transactional_sender_when_they_have_none(
    twilio_settings: Settings, fake_twilio: FakeTwilio, redis_client: Redis
) -> None:
    settings = twilio_settings.model_copy(update={"sms_from_fans": None})
    async with sms_sender(settings, Metrics(), redis_client) as sender:
        await sender.send(SmsMessage(to=FAN, body="New show Friday", purpose="fan"))
    assert fake_twilio.sent[0]["From"] == TRANSACTIONAL_FROM


async def test_an_invalid_number_is_a_permanent_error_and_nothing_is_sent(
    twilio_settings: Settings, fake_twilio: FakeTwilio, redis_client: Redis
) -> None:
    metrics = Metrics()
    async with sms_sender(twilio_settings, metrics, redis_client) as sender:
        with pytest.raises(ProviderError) as failure:
            await sender.send(SmsMessage(to="555-0100", body="hi", purpose="fan"))
    assert not failure.value.retryable
    assert "invalid recipient" in str(failure.value)
    assert fake_twilio.requests == []
    counted = provider_outcomes(metrics, "twilio")
    assert counted == {
        "success": 0,
        "retryable_error": 0,
        "permanent_error": 0,
    }


async def test_an_unsubscribed_recipient_is_a_permanent_error(
    twilio_settings: Settings, fake_twilio: FakeTwilio, redis_client: Redis
) -> None:
    fake_twilio.unsubscribed.add(FAN)
    metrics = Metrics()
    async with sms_sender(twilio_settings, metrics, redis_client) as sender:
        with pytest.raises(ProviderError) as failure:
            await sender.send(SmsMessage(to=FAN, body="New show", purpose="fan"))
    assert failure.value.status == 400
    assert not failure.value.retryable
    assert "21610" in str(failure.value)
    assert fake_twilio.sent == []
    counted = provider_outcomes(metrics, "twilio")
    assert counted == {
        "success": 0,
        "retryable_error": 0,
        "permanent_error": 1,
    }


async def test_a_wrong_auth_token_is_permanent_and_never_logged(
    twilio_settings: Settings,
    fake_twilio: FakeTwilio,
    redis_client: Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "f" * 32
    settings = twilio_settings.model_copy(update={"twilio_auth_token": SecretStr(wrong)})
    caplog.set_level(logging.DEBUG)
    async with sms_sender(settings, Metrics(), redis_client) as sender:
        with pytest.raises(ProviderError) as failure:
            await sender.send(SmsMessage(to=FAN, body="Private presale code 7781", purpose="fan"))
    assert failure.value.status == 401
    assert not failure.value.retryable
    assert "20003" in str(failure.value)
    for text in (str(failure.value), caplog.text):
        assert wrong not in text
        assert fake_twilio.auth_token not in text
        assert "7781" not in text
    assert fake_twilio.sent == []


@pytest.mark.parametrize(
    ("kind", "status"), [("429", 429), ("500", 500), ("timeout", None), ("malformed", None)]
)
async def test_transient_failures_are_retryable(
    twilio_settings: Settings,
    fake_twilio: FakeTwilio,
    redis_client: Redis,
    kind: str,
    status: int | None,
) -> None:
    fake_twilio.fail(kind)  # type: ignore[arg-type]
    metrics = Metrics()
    settings = twilio_settings.model_copy(update={"sms_timeout_seconds": 0.5})
    async with sms_sender(settings, metrics, redis_client) as sender:
        started = time.monotonic()
        with pytest.raises(ProviderError) as failure:
            await sender.send(SmsMessage(to=FAN, body="Doors at 8", purpose="transactional"))
        assert time.monotonic() - started < 3  # the 0.5 s timeout, not the fake's 30 s hang
        assert failure.value.retryable
        assert failure.value.status == status
        assert failure.value.provider == "twilio"
        await sender.send(SmsMessage(to=FAN, body="Doors at 8", purpose="transactional"))
    counted = provider_outcomes(metrics, "twilio")
    assert counted == {
        "success": 1,
        "retryable_error": 1,
        "permanent_error": 0,
    }
    assert len(fake_twilio.sent) == 1


async def test_an_unreachable_twilio_is_retryable(
    twilio_settings: Settings, redis_client: Redis
) -> None:
    closed = twilio_settings.model_copy(
        update={"twilio_base_url": f"http://127.0.0.1:{free_port()}"}
    )
    async with sms_sender(closed, Metrics(), redis_client) as sender:
        with pytest.raises(ProviderError) as failure:
            await sender.send(SmsMessage(to=FAN, body="hi", purpose="fan"))
    assert failure.value.retryable


async def test_the_console_backend_logs_and_sends_nothing(
    settings: Settings,
    fake_twilio: FakeTwilio,
    redis_client: Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    console = settings.model_copy(
        update={"sms_backend": SmsBackend.CONSOLE, "twilio_base_url": fake_twilio.url}
    )
    caplog.set_level(logging.INFO, logger="umbrella.integrations.sms")
    async with sms_sender(console, Metrics(), redis_client) as sender:
        assert not isinstance(sender, TwilioSms)
        sid = await sender.send(SmsMessage(to="+1 415 555 0123", body="Doors at 8", purpose="fan"))
        with pytest.raises(ProviderError):
            await sender.send(SmsMessage(to="not a number", body="x", purpose="fan"))
    assert sid.startswith("console-")
    assert fake_twilio.requests == []
    assert FAN in caplog.text
    assert "Doors at 8" in caplog.text
    assert await redis_client.exists(RATE_LIMIT_KEY) == 0


def test_texts_twilio_would_refuse_are_refused_before_sending() -> None:
    with pytest.raises(ValueError, match="empty"):
        SmsMessage(to=FAN, body="  ", purpose="fan")
    with pytest.raises(ValueError, match="1600"):
        SmsMessage(to=FAN, body="x" * 1601, purpose="fan")
    with pytest.raises(ValueError, match="purpose"):
        SmsMessage(to=FAN, body="x", purpose="marketing")  # type: ignore[arg-type]


# One worker process: its own Redis connection and its own Twilio client, as in production.
WORKER = """
import asyncio, sys
from umbrella.config import load_settings
from umbrella.core import cache
from umbrella.integrations.sms import SmsMessage, sms_sender
from umbrella.observability.metrics import Metrics

async def main(name: str, count: int) -> None:
    settings = load_settings()
    async with cache.redis(settings) as redis, sms_sender(settings, Metrics(), redis) as sender:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        in_flight = asyncio.Semaphore(4)  # several jobs at once, as the worker runs them

        async def one(index: int) -> None:
            async with in_flight:
                text = SmsMessage(to="+14155550123", body=f"{name} {index}", purpose="fan")
                await sender.send(text)

        await asyncio.gather(*(one(index) for index in range(count)))
    print("done", flush=True)

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def test_the_rate_limit_holds_across_two_worker_processes(
    twilio_settings: Settings, fake_twilio: FakeTwilio
) -> None:
    env = subprocess_env(
        twilio_settings,
        UMBRELLA_SMS_BACKEND="twilio",
        UMBRELLA_TWILIO_BASE_URL=fake_twilio.url,
        UMBRELLA_TWILIO_ACCOUNT_SID=fake_twilio.account_sid,
        UMBRELLA_TWILIO_AUTH_TOKEN=fake_twilio.auth_token,
        UMBRELLA_SMS_FROM_TRANSACTIONAL=TRANSACTIONAL_FROM,
        UMBRELLA_SMS_RATE_PER_SECOND="10",
        UMBRELLA_SMS_TIMEOUT_SECONDS="5",
    )
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WORKER,
            name,
            "20",
            env=env,
            cwd=REPO_ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for name in ("w1", "w2")
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert await asyncio.wait_for(worker.stdout.readline(), 30) == b"ready\n"
        for worker in workers:  # both start sending together
            assert worker.stdin is not None
            worker.stdin.write(b"go\n")
            await worker.stdin.drain()
        for worker in workers:
            await asyncio.wait_for(worker.wait(), 30)
            assert worker.returncode == 0
    finally:
        for worker in workers:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()

    arrivals = [text["received_at"] for text in fake_twilio.sent]
    assert len(arrivals) == 40
    assert most_in_one_second(arrivals) <= 10
    assert max(arrivals) - min(arrivals) >= 3.0
    # The two really sent at the same time, sharing the rate rather than taking turns.
    first_second = [text["Body"].split()[0] for text in fake_twilio.sent[:10]]
    assert set(first_second) == {"w1", "w2"}


async def test_with_redis_down_each_process_still_limits_itself_and_keeps_sending(
    twilio_settings: Settings,
    fake_twilio: FakeTwilio,
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = twilio_settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{free_port()}/0", "redis_timeout_seconds": 0.2}
    )
    redis = cache.client(down)  # the production client, pointed at a closed port
    caplog.set_level(logging.INFO, logger="umbrella.integrations.ratelimit")
    try:
        async with sms_sender(down, Metrics(), redis) as sender:
            await asyncio.gather(
                *(
                    sender.send(SmsMessage(to=FAN, body=f"text {index}", purpose="fan"))
                    for index in range(12)
                )
            )
    finally:
        await redis.aclose()

    arrivals = [text["received_at"] for text in fake_twilio.sent]
    assert len(arrivals) == 12
    assert most_in_one_second(arrivals) <= 10
    assert max(arrivals) - min(arrivals) >= 1.0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # once per outage, not once per text
    assert "Redis unreachable" in warnings[0].getMessage()


async def test_the_limiter_goes_back_to_redis_when_it_returns(
    own_redis: DevStack, caplog: pytest.LogCaptureFixture
) -> None:
    assert own_redis.endpoints.redis_url is not None
    redis = Redis.from_url(
        own_redis.endpoints.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5
    )
    limiter = SharedRateLimiter(
        redis, key="ratelimit:test", rate_per_second=100, redis_retry_seconds=0
    )
    caplog.set_level(logging.INFO, logger="umbrella.integrations.ratelimit")
    try:
        await limiter.acquire()
        assert await redis.exists("ratelimit:test") == 1
        assert not limiter.degraded

        own_redis.processes["redis"].stop()
        for _ in range(3):
            await limiter.acquire()  # still paced, locally
        assert limiter.degraded

        own_redis.restart("redis")
        await limiter.acquire()
        assert not limiter.degraded
        assert await redis.exists("ratelimit:test") == 1
    finally:
        await redis.aclose()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Redis unreachable" in m for m in messages) == 1
    assert sum("through Redis again" in m for m in messages) == 1


async def test_two_connections_share_one_rate_through_redis(
    servers: Servers, redis_client: Redis
) -> None:
    clients = [Redis.from_url(servers.redis_url) for _ in range(2)]
    limiters = [SharedRateLimiter(c, key="ratelimit:pair", rate_per_second=40) for c in clients]
    try:
        started = time.monotonic()
        await asyncio.gather(*(limiter.acquire() for limiter in limiters for _ in range(10)))
        elapsed = time.monotonic() - started
    finally:
        for client in clients:
            await client.aclose()
    # 20 slots at 40/s, evenly spaced: the last is 19 intervals (~0.5 s) after the first.
    assert elapsed >= 19 / 40


async def test_every_call_is_counted_by_outcome(
    twilio_settings: Settings, fake_twilio: FakeTwilio, redis_client: Redis
) -> None:
    metrics = Metrics()
    fake_twilio.unsubscribed.add("+14155550124")
    async with sms_sender(twilio_settings, metrics, redis_client) as sender:
        await sender.send(SmsMessage(to=FAN, body="a", purpose="fan"))
        await sender.send(SmsMessage(to=FAN, body="b", purpose="transactional"))
        fake_twilio.fail("500")
        with pytest.raises(ProviderError):
            await sender.send(SmsMessage(to=FAN, body="c", purpose="fan"))
        with pytest.raises(ProviderError):
            await sender.send(SmsMessage(to="+14155550124", body="d", purpose="fan"))
    counted = provider_outcomes(metrics, "twilio")
    assert counted == {
        "success": 2,
        "retryable_error": 1,
        "permanent_error": 1,
    }
