"""A provider outage longer than a few retries: broadcast deliveries wait it out, then go
out exactly once each."""

from __future__ import annotations

import asyncio
from collections import Counter

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.broadcasts.audience import (
    add_contacts,
    delivery_counts,
    email,
    killable_worker,
    make_list,
    phone,
    zone_at,
)
from tests.factories import bearer_for, make_artist
from tests.fakes.resend import FakeResend, use_fake_resend
from tests.fakes.twilio import FakeTwilio, use_fake_twilio
from tests.workers import eventually
from umbrella.broadcasts import timing
from umbrella.broadcasts.tables import BroadcastMessage
from umbrella.config import Settings

Client = TestClient[web.Request, web.Application]

# Longer than the old policy's whole window (5 tries, 1 + 2 + 4 + 8 = 15 s).
OUTAGE_SECONDS = 22.0
FANS = 6


async def test_deliveries_ride_out_a_provider_outage_and_go_out_once_after_it(
    settings: Settings, client: Client, fake_resend: FakeResend, fake_twilio: FakeTwilio
) -> None:
    # The production horizon is an hour; the same policy, scaled down to seconds.
    worker_settings = use_fake_twilio(
        use_fake_resend(settings, fake_resend),
        fake_twilio,
        job_heartbeat_timeout_seconds=1,
        broadcast_retry_base_seconds=0.5,
        broadcast_retry_max_delay_seconds=2.0,
        broadcast_retry_horizon_seconds=60.0,
    )
    user_id, artist_id = await make_artist(stage_name="Luna Vega", timezone=zone_at(13))
    headers = await bearer_for(client.app, user_id)
    fans = await make_list(artist_id, "Fans")
    await add_contacts(fans, range(FANS))
    fake_resend.fail("500", times=100_000)
    fake_twilio.fail("500", times=100_000)
    payload = {"list_ids": [str(fans)], "channels": "both", "subject": "Tour", "body": "Hi!"}
    created = await client.post("/v1/broadcast", json=payload, headers=headers)
    assert created.status == 201, await created.text()
    broadcast_id = (await created.json())["data"]["id"]

    async with killable_worker(worker_settings):
        await asyncio.sleep(OUTAGE_SECONDS)
        counts = await delivery_counts(broadcast_id)
        assert not [key for key in counts if key[1] == "failed"], counts
        tries = len(fake_resend.requests)
        assert tries >= 5, "the outage was not retried"
        fake_resend.heal()
        fake_twilio.heal()

        async def sent() -> bool:
            rows = await BroadcastMessage.raw(
                "SELECT status FROM broadcast_messages WHERE id = {}", broadcast_id
            )
            return bool(rows[0]["status"] == "sent")

        await eventually(sent, seconds=30, what="the broadcast sent after the outage")

    assert await delivery_counts(broadcast_id) == {("email", "sent"): FANS, ("sms", "sent"): FANS}
    emails = Counter(message["to"][0] for message in fake_resend.sent)
    texts = Counter(message["To"] for message in fake_twilio.sent)
    assert emails == Counter({email(n): 1 for n in range(FANS)})
    assert texts == Counter({phone(n): 1 for n in range(FANS)})
    # Every try of the batch carried one Idempotency-Key: Resend would send it once.
    keys = {r.headers["Idempotency-Key"] for r in fake_resend.received("/emails/batch")}
    assert len(keys) == 1
    assert timing.delivery_attempts(worker_settings) > 5


def test_the_production_policy_retries_for_at_least_an_hour(settings: Settings) -> None:
    """Even if every jittered wait came out at its shortest, the last try is an hour on."""
    assert settings.broadcast_retry_horizon_seconds >= 3600
    attempts = timing.delivery_attempts(settings)
    shortest = [_least(settings, n) for n in range(1, attempts)]
    assert sum(shortest) >= 3600
    for n, least in enumerate(shortest, start=1):
        for _ in range(20):
            assert least <= timing.retry_delay(settings, n).total_seconds() <= 2 * least


def _least(settings: Settings, attempts: int) -> float:
    """The shortest wait after the n-th failed try (the jitter at its lowest)."""
    backoff: float = settings.broadcast_retry_base_seconds * 2.0 ** (attempts - 1)
    return min(backoff, settings.broadcast_retry_max_delay_seconds) * (1 - timing.JITTER)
