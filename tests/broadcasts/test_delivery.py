"""The delivery engine against the fakes: 10,000 contacts, two worker kills, exactly once."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.broadcasts.audience import (
    add_contacts,
    delivery_counts,
    email,
    killable_worker,
    make_list,
    phone,
    suppress,
    zone_at,
)
from tests.factories import bearer_for, make_artist
from tests.fakes.resend import FakeResend, use_fake_resend
from tests.fakes.twilio import FakeTwilio, use_fake_twilio
from tests.workers import eventually
from umbrella.broadcasts import service, timing
from umbrella.broadcasts.tables import BroadcastMessage
from umbrella.config import Settings

Client = TestClient[web.Request, web.Application]


def _fast(settings: Settings, resend: FakeResend, twilio: FakeTwilio) -> Settings:
    # 10,000 texts at the production 10/s would take 17 minutes: the limiter is tested elsewhere.
    return use_fake_twilio(
        use_fake_resend(settings, resend),
        twilio,
        sms_rate_per_second=5_000,
        job_heartbeat_timeout_seconds=1,
    )


async def _status(broadcast_id: str) -> str:
    rows = await BroadcastMessage.raw(
        "SELECT status FROM broadcast_messages WHERE id = {}", broadcast_id
    )
    return str(rows[0]["status"])


async def test_ten_thousand_contacts_killed_twice_get_exactly_one_copy_each(
    settings: Settings, client: Client, fake_resend: FakeResend, fake_twilio: FakeTwilio
) -> None:
    started = time.monotonic()
    worker_settings = _fast(settings, fake_resend, fake_twilio)
    user_id, artist_id = await make_artist(stage_name="Luna Vega", timezone=zone_at(13))
    headers = await bearer_for(client.app, user_id)
    fans, vip = await make_list(artist_id, "Fans"), await make_list(artist_id, "VIP")
    await add_contacts(fans, range(0, 10_000), email_every=2, sms_every=5)
    await add_contacts(vip, range(9_000, 10_000), email_every=2, sms_every=5)  # on both lists
    stopped = {phone(n) for n in range(0, 500, 5)}  # 100 STOPs before the send
    for number in stopped:
        await suppress(artist_id, "sms", number)
    await suppress(artist_id, "email", email(2), reason="unsubscribe")
    payload = {
        "list_ids": [str(fans), str(vip)],
        "channels": "both",
        "subject": "Tour",
        "body": "New dates are out!",
    }
    preview = (
        await (await client.post("/v1/broadcast/preview", json=payload, headers=headers)).json()
    )["data"]
    assert preview["recipients"] == {"email": 4_999, "sms": 1_900, "total": 6_899}
    created = (await (await client.post("/v1/broadcast", json=payload, headers=headers)).json())[
        "data"
    ]
    broadcast_id = created["id"]
    lease = timing.claim_lease(worker_settings)

    for kill_after in (1_000, 3_000):
        async with killable_worker(worker_settings) as worker:
            await eventually(
                _enough(fake_resend.sent, kill_after), what=f"{kill_after} emails sent"
            )
            # Resend takes the next batch and its answer is lost: the worker dies waiting.
            fake_resend.lose_responses(1)
            hung = len(fake_resend.requests) + 1
            await eventually(_enough(fake_resend.requests, hung), what="a lost answer")
            await worker.kill()
        # Killed mid-send: Resend has the batch, our rows still say "sending".
        assert (await delivery_counts(broadcast_id)).get(("email", "sending"), 0) > 0
        # The job died with the worker: the cron finds the broadcast stalled and resumes it.
        resumed = await service.resume_stalled_broadcasts(
            settings=worker_settings, now=timing.utcnow() + lease + timedelta(seconds=1)
        )
        assert [str(i) for i in resumed] == [broadcast_id]

    async with killable_worker(worker_settings):
        await eventually(_is_sent(broadcast_id), seconds=60, what="the broadcast sent")

    emails = Counter(message["to"][0] for message in fake_resend.sent)
    texts = Counter(message["To"] for message in fake_twilio.sent)
    expected_emails = {email(n) for n in range(0, 10_000, 2)} - {email(2)}
    expected_texts = {phone(n) for n in range(0, 10_000, 5)} - stopped
    assert set(emails) == expected_emails
    assert set(texts) == expected_texts
    assert max(emails.values()) == 1
    assert max(texts.values()) == 1
    # Every email carries its own one-click unsubscribe link, every text the opt-out words.
    assert all("List-Unsubscribe" in message["headers"] for message in fake_resend.sent)
    assert all(m["Body"].endswith("Reply STOP to opt out") for m in fake_twilio.sent)
    # A batch re-sent after a kill reused its Idempotency-Key, and Resend kept one copy.
    keys = Counter(r.headers["Idempotency-Key"] for r in fake_resend.received("/emails/batch"))
    assert max(keys.values()) >= 2
    assert await delivery_counts(broadcast_id) == {("email", "sent"): 4_999, ("sms", "sent"): 1_900}
    assert preview["recipients"]["total"] == len(fake_resend.sent) + len(fake_twilio.sent)
    print(f"10,000-contact broadcast with two kills: {time.monotonic() - started:.1f} s")


def _enough(items: list[Any], floor: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len(items) >= floor

    return check


def _is_sent(broadcast_id: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return await _status(broadcast_id) == "sent"

    return check


async def test_stop_and_unsubscribe_take_effect_for_the_next_send(
    settings: Settings, client: Client, fake_resend: FakeResend, fake_twilio: FakeTwilio
) -> None:
    worker_settings = _fast(settings, fake_resend, fake_twilio)
    user_id, artist_id = await make_artist(stage_name="Luna Vega", timezone=zone_at(13))
    headers = await bearer_for(client.app, user_id)
    fans = await make_list(artist_id)
    await add_contacts(fans, range(0, 3))
    payload: dict[str, Any] = {
        "list_ids": [str(fans)],
        "channels": "both",
        "subject": "A",
        "body": "One",
    }
    # created before the STOP: the re-check right before sending still skips the fan
    first = (await (await client.post("/v1/broadcast", json=payload, headers=headers)).json())[
        "data"
    ]
    await suppress(artist_id, "sms", phone(1))
    await suppress(artist_id, "email", email(2), reason="unsubscribe")
    async with killable_worker(worker_settings):
        await eventually(_is_sent(first["id"]), what="first broadcast sent")
        second = (await (await client.post("/v1/broadcast", json=payload, headers=headers)).json())[
            "data"
        ]
        assert second["recipient_count"] == 4
        await eventually(_is_sent(second["id"]), what="second broadcast sent")
    assert await delivery_counts(first["id"]) == {
        ("email", "sent"): 2,
        ("email", "skipped"): 1,
        ("sms", "sent"): 2,
        ("sms", "skipped"): 1,
    }
    assert phone(1) not in {m["To"] for m in fake_twilio.sent}
    assert email(2) not in {m["to"][0] for m in fake_resend.sent}
    history = (await (await client.get("/v1/broadcast/history", headers=headers)).json())["data"]
    counts = {item["id"]: item["counts"] for item in history["items"]}
    assert counts[first["id"]]["unsubscribed_since"] == 2
    assert counts[second["id"]]["sent"] == 4
