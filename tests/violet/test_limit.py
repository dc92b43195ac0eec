"""D-062: 50 prompts per artist per UTC day, counted before the model is called.

Redis is the fast gate and Postgres the one that decides, so the limit holds under
concurrency, with Redis down and when the two disagree; a failed answer is not counted.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis

from tests.conftest import start_client
from tests.fakes.anthropic import AnthropicFailure, FakeAnthropic
from tests.violet.violet import (
    LIMIT_MESSAGE,
    UNAVAILABLE,
    Client,
    counter,
    logged,
    seconds_to_midnight,
    signed_in_artist,
    today,
    use_prompts,
)
from umbrella.app import create_app
from umbrella.config import Settings
from umbrella.devstack import DevStack
from umbrella.violet.service import counter_key


async def ask(client: Client, headers: dict[str, str], prompt: str = "What next?") -> Any:
    return await client.post("/v1/violet/prompt", json={"prompt": prompt}, headers=headers)


async def usage(client: Client, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/v1/violet/usage", headers=headers)
    assert response.status == 200
    data: dict[str, Any] = (await response.json())["data"]
    return data


async def assert_refused(response: Any) -> None:
    assert response.status == 429
    body = await response.json()
    assert body["error"] == {"code": "RATE_LIMIT_EXCEEDED", "message": LIMIT_MESSAGE}
    retry_after = int(response.headers["Retry-After"])
    assert abs(retry_after - seconds_to_midnight()) <= 5


async def test_the_51st_prompt_is_429_with_the_spec_message_and_retry_after(
    client: Client, fake_anthropic: FakeAnthropic, redis_client: Redis
) -> None:
    artist_id, headers = await signed_in_artist(client)
    await use_prompts(artist_id, 49)

    assert (await ask(client, headers)).status == 200
    assert (await usage(client, headers))["remaining"] == 0
    await assert_refused(await ask(client, headers))

    assert len(fake_anthropic.messages_requests()) == 1
    assert len(await logged(artist_id)) == 50
    assert await counter(redis_client, artist_id) == 50  # the refusal gave its count back
    # Yesterday's prompts are yesterday's: another artist or day is not affected.
    other_id, other = await signed_in_artist(client)
    await use_prompts(other_id, 50, on=today() - timedelta(days=1))
    assert (await ask(client, other)).status == 200


async def test_usage_says_used_limit_remaining_and_the_next_midnight(
    client: Client, redis_client: Redis
) -> None:
    artist_id, headers = await signed_in_artist(client)
    await use_prompts(artist_id, 7)  # logged while Redis was away: the counter is seeded
    midnight = (today() + timedelta(days=1)).isoformat() + "T00:00:00Z"
    assert await usage(client, headers) == {
        "used": 7,
        "limit": 50,
        "remaining": 43,
        "resets_at": midnight,
    }
    assert await counter(redis_client, artist_id) == 7
    ttl = await redis_client.ttl(counter_key(artist_id, today()))
    assert abs(ttl - seconds_to_midnight()) <= 5


async def test_50_concurrent_prompts_at_49_used_admit_exactly_one(
    client: Client, fake_anthropic: FakeAnthropic, redis_client: Redis
) -> None:
    artist_id, headers = await signed_in_artist(client)
    await use_prompts(artist_id, 49)

    responses = await asyncio.gather(*(ask(client, headers, f"prompt {n}") for n in range(50)))

    statuses = sorted(response.status for response in responses)
    assert statuses == [200] + [429] * 49
    assert len(fake_anthropic.messages_requests()) == 1
    assert len(await logged(artist_id)) == 50
    assert await counter(redis_client, artist_id) == 50
    assert (await usage(client, headers))["used"] == 50


async def redis_down_client(settings: Settings, own_redis: DevStack) -> Client:
    """The API with its own Redis, which the test then stops."""
    app = create_app(settings.model_copy(update={"redis_url": own_redis.endpoints.redis_url}))
    client = await start_client(app)
    own_redis.processes["redis"].stop()
    return client


async def test_with_redis_down_50_concurrent_prompts_at_49_used_admit_exactly_one(
    anthropic_settings: Settings, own_redis: DevStack, fake_anthropic: FakeAnthropic
) -> None:
    client = await redis_down_client(anthropic_settings, own_redis)
    try:
        artist_id, headers = await signed_in_artist(client)
        await use_prompts(artist_id, 49)

        responses = await asyncio.gather(*(ask(client, headers, f"p{n}") for n in range(50)))

        statuses = sorted(response.status for response in responses)
        assert statuses == [200] + [429] * 49
        for response in responses:
            if response.status == 429:
                await assert_refused(response)
        assert len(fake_anthropic.messages_requests()) == 1
        assert len(await logged(artist_id)) == 50
        assert (await usage(client, headers))["used"] == 50  # counted in Postgres
    finally:
        await client.close()


async def test_postgres_refuses_when_a_stale_redis_counter_would_admit(
    client: Client, fake_anthropic: FakeAnthropic, redis_client: Redis
) -> None:
    """Redis came back with an old count after prompts were counted in Postgres alone."""
    artist_id, headers = await signed_in_artist(client)
    await use_prompts(artist_id, 50)
    await redis_client.set(counter_key(artist_id, today()), 10)

    await assert_refused(await ask(client, headers))

    assert fake_anthropic.messages_requests() == []
    assert len(await logged(artist_id)) == 50
    assert await counter(redis_client, artist_id) == 10  # given back; Postgres still decides


async def test_an_admission_raises_a_lagging_counter_to_the_postgres_count(
    client: Client, redis_client: Redis
) -> None:
    artist_id, headers = await signed_in_artist(client)
    await use_prompts(artist_id, 20)
    await redis_client.set(counter_key(artist_id, today()), 3)

    response = await ask(client, headers)

    assert response.status == 200
    assert (await response.json())["data"]["usage"]["used"] == 21
    assert await counter(redis_client, artist_id) == 21
    assert (await usage(client, headers))["used"] == 21


async def test_a_failed_model_call_is_503_and_does_not_count(
    client: Client, fake_anthropic: FakeAnthropic, redis_client: Redis
) -> None:
    artist_id, headers = await signed_in_artist(client)
    await use_prompts(artist_id, 49)
    failures: list[AnthropicFailure] = ["500", "overloaded", "malformed", "429"]
    for failure in failures:
        fake_anthropic.fail(failure)

        response = await ask(client, headers)

        assert response.status == 503, failure
        body = await response.json()
        assert body["error"] == {"code": "SERVICE_UNAVAILABLE", "message": UNAVAILABLE}
        assert len(await logged(artist_id)) == 49
        assert await counter(redis_client, artist_id) == 49
    assert len(fake_anthropic.messages_requests()) == len(failures)
    # Each failure gave its prompt back: the 50th still goes through.
    assert (await ask(client, headers)).status == 200
    await assert_refused(await ask(client, headers))


async def test_with_redis_down_a_failed_model_call_does_not_count(
    anthropic_settings: Settings, own_redis: DevStack, fake_anthropic: FakeAnthropic
) -> None:
    client = await redis_down_client(anthropic_settings, own_redis)
    try:
        artist_id, headers = await signed_in_artist(client)
        await use_prompts(artist_id, 49)
        fake_anthropic.fail("500")
        assert (await ask(client, headers)).status == 503
        assert len(await logged(artist_id)) == 49
        assert (await ask(client, headers)).status == 200
        await assert_refused(await ask(client, headers))
    finally:
        await client.close()
