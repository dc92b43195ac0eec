"""Violet's model client against the local Anthropic API: answers, failures, metrics."""

from __future__ import annotations

import logging
import typing

import pytest
from pydantic import SecretStr

from tests.fakes.anthropic import AnthropicFailure, FakeAnthropic, use_fake_anthropic
from tests.metrics import provider_outcomes
from umbrella.config import Settings
from umbrella.core.errors import DependencyUnavailable
from umbrella.integrations.base import ProviderError
from umbrella.integrations.llm import UNAVAILABLE_MESSAGE, Llm, LlmReply, llm_client
from umbrella.observability.metrics import Metrics

DEFAULT_MODEL = "claude-sonnet-5-5"
SPEC_MESSAGE = "Violet is temporarily unavailable. Try again in a few minutes."


async def test_reply_carries_the_text_and_token_counts(
    base_settings: Settings, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.reply_text = "Dear Blue Note, I'd love to play your Friday night."
    fake_anthropic.input_tokens = 42
    fake_anthropic.output_tokens = 17
    metrics = Metrics()
    async with llm_client(use_fake_anthropic(base_settings, fake_anthropic), metrics) as llm:
        reply = await llm.complete(system="You are Violet.", prompt="Draft a gig inquiry.")

    assert reply == LlmReply(
        text="Dear Blue Note, I'd love to play your Friday night.",
        input_tokens=42,
        output_tokens=17,
        model=DEFAULT_MODEL,
        stop_reason="end_turn",
    )
    assert provider_outcomes(metrics, "anthropic")["success"] == 1


async def test_request_carries_model_max_tokens_system_and_credentials(
    base_settings: Settings, fake_anthropic: FakeAnthropic
) -> None:
    settings = use_fake_anthropic(base_settings, fake_anthropic, llm_max_tokens=1024)
    async with llm_client(settings, Metrics()) as llm:
        await llm.complete(system="You are Violet.", prompt="Help me write a chorus.")
        await llm.complete(system="You are Violet.", prompt="Shorter.", max_tokens=64)

    first, second = fake_anthropic.received("/v1/messages")
    assert first.json() == {
        "model": DEFAULT_MODEL,
        "max_tokens": 1024,
        "system": "You are Violet.",
        "messages": [{"role": "user", "content": "Help me write a chorus."}],
    }
    assert second.json()["max_tokens"] == 64
    # The 2.x SDK sends the key as a bearer token, which the API accepts like x-api-key.
    assert first.headers["Authorization"] == f"Bearer {fake_anthropic.api_key}"
    assert first.headers["anthropic-version"]


async def test_without_a_key_violet_is_unavailable(
    base_settings: Settings, fake_anthropic: FakeAnthropic
) -> None:
    settings = use_fake_anthropic(base_settings, fake_anthropic, anthropic_api_key=None)
    metrics = Metrics()
    async with llm_client(settings, metrics) as llm:
        assert not llm.configured
        with pytest.raises(DependencyUnavailable) as raised:
            await llm.complete(system="s", prompt="p")

    assert raised.value.message == SPEC_MESSAGE == UNAVAILABLE_MESSAGE
    assert raised.value.status == 503
    assert raised.value.dependency == "claude"
    assert fake_anthropic.requests == []
    assert (
        provider_outcomes(metrics, "anthropic")["success"]
        == provider_outcomes(metrics, "anthropic")["retryable_error"]
        == 0
    )


@pytest.mark.parametrize("failure", ["overloaded", "429", "500", "timeout", "malformed"])
async def test_a_busy_or_broken_model_is_a_503_without_retry(
    base_settings: Settings, fake_anthropic: FakeAnthropic, failure: AnthropicFailure
) -> None:
    fake_anthropic.fail(failure)
    # Short enough that the hung request gives up quickly, long enough that the answered one
    # after it is never cut off on a loaded machine (0.3 s was: a flake under the full suite).
    settings = use_fake_anthropic(base_settings, fake_anthropic, llm_timeout_seconds=1.5)
    metrics = Metrics()
    async with llm_client(settings, metrics) as llm:
        with pytest.raises(DependencyUnavailable) as raised:
            await llm.complete(system="s", prompt="p")
        # The next call is answered: nothing was left queued by a hidden retry.
        assert (await llm.complete(system="s", prompt="again")).text

    assert raised.value.message == SPEC_MESSAGE
    assert raised.value.headers["Retry-After"]
    assert len(fake_anthropic.received("/v1/messages")) == 2
    assert provider_outcomes(metrics, "anthropic")["retryable_error"] == 1
    assert provider_outcomes(metrics, "anthropic")["success"] == 1


async def test_an_unreachable_api_is_a_503(
    base_settings: Settings, fake_anthropic: FakeAnthropic
) -> None:
    settings = use_fake_anthropic(base_settings, fake_anthropic)
    await fake_anthropic.stop()
    metrics = Metrics()
    async with llm_client(settings, metrics) as llm:
        with pytest.raises(DependencyUnavailable, match="Violet is temporarily unavailable"):
            await llm.complete(system="s", prompt="p")
    assert provider_outcomes(metrics, "anthropic")["retryable_error"] == 1


async def test_a_rejected_key_is_a_permanent_error_logged_without_secrets(
    base_settings: Settings, fake_anthropic: FakeAnthropic, caplog: pytest.LogCaptureFixture
) -> None:
    wrong_key = "sk-ant-wrong-key-123456789"
    settings = use_fake_anthropic(
        base_settings, fake_anthropic, anthropic_api_key=SecretStr(wrong_key)
    )
    metrics = Metrics()
    caplog.set_level(logging.INFO, logger="umbrella.integrations.llm")
    async with llm_client(settings, metrics) as llm:
        with pytest.raises(ProviderError) as raised:
            await llm.complete(system="secret system prompt", prompt="my private lyrics")

    assert raised.value.provider == "anthropic"
    assert raised.value.status == 401
    assert not raised.value.retryable
    assert len(fake_anthropic.received("/v1/messages")) == 1
    assert provider_outcomes(metrics, "anthropic")["permanent_error"] == 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors, "a refused request is our bug: it must be logged as an error"
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert wrong_key not in logged
    assert "my private lyrics" not in logged
    assert "secret system prompt" not in logged


async def test_an_unknown_model_is_a_permanent_error(
    base_settings: Settings, fake_anthropic: FakeAnthropic
) -> None:
    settings = use_fake_anthropic(base_settings, fake_anthropic, llm_model="gpt-4o")
    async with llm_client(settings, Metrics()) as llm:
        with pytest.raises(ProviderError) as raised:
            await llm.complete(system="s", prompt="p")
    assert raised.value.status == 404
    assert not raised.value.retryable


async def test_the_client_can_be_built_and_closed_directly(
    base_settings: Settings, fake_anthropic: FakeAnthropic
) -> None:
    llm = Llm(use_fake_anthropic(base_settings, fake_anthropic), Metrics())
    assert llm.configured
    assert (await llm.complete(system="s", prompt="p")).output_tokens > 0
    await llm.aclose()


def test_the_default_model_is_one_the_sdk_lists_and_does_not_deprecate() -> None:
    from anthropic._data import DEPRECATED_MODELS
    from anthropic.types import Model

    default = Settings.model_fields["llm_model"].default
    listed = typing.get_args(typing.get_args(Model)[0])
    assert default in listed
    assert default not in DEPRECATED_MODELS


async def test_a_deprecated_model_is_warned_about_at_start(
    base_settings: Settings, fake_anthropic: FakeAnthropic, caplog: pytest.LogCaptureFixture
) -> None:
    from anthropic._data import DEPRECATED_MODELS

    deprecated = "claude-opus-4-5"
    assert deprecated in DEPRECATED_MODELS
    caplog.set_level(logging.WARNING, logger="umbrella.integrations.llm")
    async with llm_client(use_fake_anthropic(base_settings, fake_anthropic), Metrics()):
        pass
    assert not [r for r in caplog.records if "deprecated" in r.getMessage()]

    settings = use_fake_anthropic(base_settings, fake_anthropic, llm_model=deprecated)
    async with llm_client(settings, Metrics()):
        [warning] = [r for r in caplog.records if "deprecated" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert deprecated in warning.getMessage()
    assert DEPRECATED_MODELS[deprecated] in warning.getMessage()
