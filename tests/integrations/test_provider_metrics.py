"""Every provider call is timed under the outcome it is counted with, for all four providers."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from tests.fakes.anthropic import FakeAnthropic, use_fake_anthropic
from tests.fakes.oidc import FakeOidcProvider, use_fake_oidc
from tests.fakes.resend import FakeResend
from tests.fakes.twilio import FakeTwilio
from tests.metrics import OUTCOMES, provider_outcomes, sample
from umbrella.config import Settings
from umbrella.core.errors import DependencyUnavailable
from umbrella.integrations.base import ProviderError
from umbrella.integrations.email import EmailMessage, email_sender
from umbrella.integrations.llm import llm_client
from umbrella.integrations.oidc import oidc_client
from umbrella.integrations.oidc_token import TokenEndpointError
from umbrella.integrations.sms import SmsMessage, sms_sender
from umbrella.observability.metrics import Metrics

# The SDK warns that the model SPEC §3.8 names is deprecated; that is the product's choice.
pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

HISTOGRAM = "umbrella_external_request_duration_seconds"
TIMEOUT = 0.3
FAN = "+14155550123"


def timed(metrics: Metrics, service: str) -> dict[str, float]:
    """How many calls of one provider the latency histogram holds, by outcome."""
    return {
        outcome: sample(metrics, f"{HISTOGRAM}_count", provider=service, outcome=outcome)
        for outcome in OUTCOMES
    }


def seconds(metrics: Metrics, service: str, outcome: str) -> float:
    """The total latency observed for one provider and outcome."""
    return sample(metrics, f"{HISTOGRAM}_sum", provider=service, outcome=outcome)


def email() -> EmailMessage:
    return EmailMessage(to="fan@example.net", subject="Your booking", text="See you Friday.")


async def test_resend_calls_are_timed_by_outcome(
    resend_settings: Settings, fake_resend: FakeResend
) -> None:
    settings = resend_settings.model_copy(update={"email_timeout_seconds": TIMEOUT})
    metrics = Metrics()
    async with email_sender(settings, metrics) as sender:
        await sender.send(email(), idempotency_key="a")
        await sender.send_batch([email(), email()], idempotency_key="b")
        fake_resend.fail("timeout")
        with pytest.raises(ProviderError):
            await sender.send(email(), idempotency_key="c")
        with pytest.raises(ProviderError) as refused:
            # The same key for another message: Resend refuses it for good (409).
            await sender.send(
                EmailMessage(to="fan@example.net", subject="Other", text="x"), idempotency_key="a"
            )
    assert not refused.value.retryable

    assert timed(metrics, "resend") == {"success": 2, "retryable_error": 1, "permanent_error": 1}
    assert timed(metrics, "resend") == provider_outcomes(metrics, "resend")
    # The timed-out call waited for the whole client timeout, and that is what was observed.
    assert TIMEOUT <= seconds(metrics, "resend", "retryable_error") < 5
    assert 0 < seconds(metrics, "resend", "success") < TIMEOUT * 2


async def test_twilio_calls_are_timed_by_outcome_and_a_refused_number_is_not_a_call(
    twilio_settings: Settings, fake_twilio: FakeTwilio, redis_client: Redis
) -> None:
    fake_twilio.unsubscribed.add("+14155550124")
    metrics = Metrics()
    async with sms_sender(twilio_settings, metrics, redis_client) as sender:
        await sender.send(SmsMessage(to=FAN, body="Doors at 8.", purpose="fan"))
        fake_twilio.fail("500")
        with pytest.raises(ProviderError):
            await sender.send(SmsMessage(to=FAN, body="b", purpose="fan"))
        with pytest.raises(ProviderError):
            await sender.send(SmsMessage(to="+14155550124", body="c", purpose="fan"))
        with pytest.raises(ProviderError):
            # Refused before any request: nothing reaches Twilio, so nothing is timed.
            await sender.send(SmsMessage(to="12", body="d", purpose="fan"))

    assert timed(metrics, "twilio") == {"success": 1, "retryable_error": 1, "permanent_error": 1}
    assert timed(metrics, "twilio") == provider_outcomes(metrics, "twilio")
    assert seconds(metrics, "twilio", "success") > 0


async def test_claude_calls_are_timed_by_outcome(
    base_settings: Settings, fake_anthropic: FakeAnthropic
) -> None:
    settings = use_fake_anthropic(base_settings, fake_anthropic, llm_timeout_seconds=TIMEOUT)
    metrics = Metrics()
    async with llm_client(settings, metrics) as llm:
        await llm.complete(system="You are Violet.", prompt="A gig inquiry, please.")
        fake_anthropic.fail("timeout")
        with pytest.raises(DependencyUnavailable):
            await llm.complete(system="s", prompt="p")
        fake_anthropic.fail("overloaded")
        with pytest.raises(DependencyUnavailable):
            await llm.complete(system="s", prompt="p")
    wrong_key = use_fake_anthropic(
        base_settings, fake_anthropic, anthropic_api_key=SecretStr("sk-ant-wrong-key-1234")
    )
    async with llm_client(wrong_key, metrics) as llm:
        with pytest.raises(ProviderError):
            await llm.complete(system="s", prompt="p")

    assert timed(metrics, "anthropic") == {
        "success": 1,
        "retryable_error": 2,
        "permanent_error": 1,
    }
    assert timed(metrics, "anthropic") == provider_outcomes(metrics, "anthropic")
    assert TIMEOUT <= seconds(metrics, "anthropic", "retryable_error") < 5


async def test_an_unconfigured_model_makes_no_call_and_times_nothing(
    base_settings: Settings, fake_anthropic: FakeAnthropic
) -> None:
    settings = use_fake_anthropic(base_settings, fake_anthropic, anthropic_api_key=None)
    metrics = Metrics()
    async with llm_client(settings, metrics) as llm:
        with pytest.raises(DependencyUnavailable):
            await llm.complete(system="s", prompt="p")
    assert timed(metrics, "anthropic") == dict.fromkeys(OUTCOMES, 0.0)


async def test_identity_provider_calls_are_timed_by_outcome(
    base_settings: Settings, fake_oidc: FakeOidcProvider
) -> None:
    settings = use_fake_oidc(base_settings, fake_oidc)
    metrics = Metrics()
    async with oidc_client(settings, metrics) as oidc:
        request = await oidc.authorization_request("google")  # discovery
        async with (
            aiohttp.ClientSession() as browser,
            browser.get(request.url, allow_redirects=False) as answer,
        ):
            callback = parse_qs(urlsplit(answer.headers["Location"]).query)
        code = callback["code"][0]
        with pytest.raises(TokenEndpointError):
            # Another verifier than the one the code was issued for: refused for good.
            await oidc.exchange_code("google", code, "x" * 43)
        tokens = await oidc.exchange_code("google", code, request.code_verifier)
        await oidc.verify_id_token("google", tokens.id_token, nonce=request.nonce)  # jwks
    await fake_oidc.stop()
    # A second process, with nothing cached: its discovery finds nobody answering.
    async with oidc_client(settings, metrics) as cold:
        with pytest.raises(DependencyUnavailable):
            await cold.authorization_request("google")

    assert timed(metrics, "oidc") == {"success": 3, "retryable_error": 1, "permanent_error": 1}
    assert timed(metrics, "oidc") == provider_outcomes(metrics, "oidc")
