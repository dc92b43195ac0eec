"""`umbrella_violet_prompts_total`: every prompt is counted once, under what became of it."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis

from tests.conftest import start_client
from tests.fakes.anthropic import FakeAnthropic
from tests.metrics import provider_outcomes, sample
from tests.violet.violet import Client, signed_in_artist, today, use_prompts
from umbrella import keys
from umbrella.app import create_app
from umbrella.config import Settings
from umbrella.observability.metrics import Metrics
from umbrella.violet.service import counter_key

OUTCOMES = ("answered", "limited", "failed", "unavailable")


def prompts(metrics: Metrics) -> dict[str, float]:
    return {
        outcome: sample(metrics, "umbrella_violet_prompts_total", outcome=outcome)
        for outcome in OUTCOMES
    }


async def ask(client: Client, headers: dict[str, str], **body: Any) -> int:
    response = await client.post(
        "/v1/violet/prompt", json={"prompt": "What next?", **body}, headers=headers
    )
    return response.status


async def test_answered_failed_and_limited_prompts_are_each_counted_once(
    client: Client, fake_anthropic: FakeAnthropic, redis_client: Redis
) -> None:
    metrics = client.app[keys.METRICS]
    artist_id, headers = await signed_in_artist(client)
    await use_prompts(artist_id, 48)

    assert await ask(client, headers) == 200
    fake_anthropic.fail("500")
    assert await ask(client, headers) == 503  # given back: the 50th is still there
    assert await ask(client, headers) == 200
    assert await ask(client, headers) == 429  # refused by the Redis counter
    # A stale Redis counter lets the prompt through to Postgres, which refuses it.
    await redis_client.set(counter_key(artist_id, today()), 10)
    assert await ask(client, headers) == 429

    assert prompts(metrics) == {"answered": 2, "limited": 2, "failed": 1, "unavailable": 0}
    # Only prompts that reached the model were calls to it, each timed with its outcome.
    assert provider_outcomes(metrics, "anthropic") == {
        "success": 2,
        "retryable_error": 1,
        "permanent_error": 0,
    }
    timed = sample(
        metrics,
        "umbrella_external_request_duration_seconds_count",
        provider="anthropic",
        outcome="success",
    )
    assert timed == 2


async def test_a_prompt_for_an_unknown_gig_is_not_a_prompt_outcome(
    client: Client, fake_anthropic: FakeAnthropic
) -> None:
    _, headers = await signed_in_artist(client)
    status = await ask(
        client,
        headers,
        context="gig_inquiry",
        gig_id="00000000-0000-4000-8000-000000000000",
    )
    assert status == 404
    assert prompts(client.app[keys.METRICS]) == dict.fromkeys(OUTCOMES, 0.0)


async def test_without_a_model_every_prompt_is_unavailable(settings: Settings) -> None:
    assert settings.anthropic_api_key is None
    client = await start_client(create_app(settings))
    try:
        _, headers = await signed_in_artist(client)
        assert await ask(client, headers) == 503
        assert await ask(client, headers) == 503
        assert prompts(client.app[keys.METRICS]) == {
            "answered": 0,
            "limited": 0,
            "failed": 0,
            "unavailable": 2,
        }
    finally:
        await client.close()
