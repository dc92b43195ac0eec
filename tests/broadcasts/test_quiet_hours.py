"""SMS quiet hours: no text before 08:00 or after 21:00 where the fan is; deferred, not dropped."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.broadcasts.audience import add_contacts, delivery_counts, make_list, phone, zone_at
from tests.factories import bearer_for, make_artist
from tests.fakes.resend import FakeResend, use_fake_resend
from tests.fakes.twilio import FakeTwilio, use_fake_twilio
from umbrella.artists import service as artists_service
from umbrella.broadcasts import delivery, service, timing
from umbrella.broadcasts.schemas import BroadcastIn
from umbrella.broadcasts.tables import BroadcastDelivery
from umbrella.config import Settings
from umbrella.core import cache
from umbrella.core.caller import Caller
from umbrella.observability.metrics import Metrics
from umbrella.worker import job_context

Client = TestClient[web.Request, web.Application]


def test_the_window_opens_at_eight_and_closes_at_nine_pm_local() -> None:
    zone = ZoneInfo("America/Chicago")
    at = lambda h, m=0: datetime(2026, 12, 2, h, m, tzinfo=zone)  # noqa: E731
    assert timing.quiet_until(at(12), zone) is None
    assert timing.quiet_until(at(8), zone) is None
    assert timing.quiet_until(at(20, 59), zone) is None
    assert timing.quiet_until(at(7, 59), zone) == at(8).astimezone(UTC)
    assert timing.quiet_until(at(21), zone) == (at(8) + timedelta(days=1)).astimezone(UTC)


async def test_texts_wait_for_the_fans_morning_and_then_go_once(
    settings: Settings, db: object, fake_resend: FakeResend, fake_twilio: FakeTwilio
) -> None:
    settings = use_fake_twilio(use_fake_resend(settings, fake_resend), fake_twilio)
    user_id, artist_id = await make_artist(timezone=zone_at(13))  # daytime for the artist
    fans = await make_list(artist_id)
    night = zone_at(3)
    await add_contacts(fans, range(0, 3), timezone=night)  # asleep
    await add_contacts(fans, range(3, 5))  # no zone: the artist's, where it is day
    created = await service.create_broadcast(
        caller=Caller(user_id=user_id, role="artist", find_artist_id=artists_service.get_artist_id),
        broadcast=BroadcastIn(list_ids=[fans], channels="sms", body="Show tonight"),
    )
    now = datetime.now(UTC)
    async with (
        cache.redis(settings) as redis,
        job_context(settings, Metrics(), redis=redis, store=None) as senders,
    ):
        deliver = functools.partial(
            delivery.deliver_broadcast,
            settings=settings,
            email=senders.email,
            sms=senders.sms,
            broadcast_id=created.id,
        )
        next_due = await deliver(clock=lambda: now)
        assert {m["To"] for m in fake_twilio.sent} == {phone(3), phone(4)}
        morning = datetime.combine(
            now.astimezone(ZoneInfo(night)).date() + timedelta(days=0), time(8), ZoneInfo(night)
        )
        if morning <= now:
            morning += timedelta(days=1)
        assert next_due == morning.astimezone(UTC)
        rows = await BroadcastDelivery.raw(
            "SELECT DISTINCT not_before FROM broadcast_deliveries WHERE status = 'pending'"
        )
        assert [row["not_before"] for row in rows] == [morning.astimezone(UTC)]
        # Still night a minute before 08:00: nothing goes.
        await deliver(clock=lambda: morning - timedelta(minutes=1))
        assert len(fake_twilio.sent) == 2
        done = await deliver(clock=lambda: morning + timedelta(minutes=1))
    assert done is None
    assert sorted(m["To"] for m in fake_twilio.sent) == [phone(n) for n in range(5)]
    assert await delivery_counts(created.id) == {("sms", "sent"): 5}


async def test_the_artist_sets_the_fallback_zone_in_the_profile(client: Client) -> None:
    user_id, _ = await make_artist()
    headers = await bearer_for(client.app, user_id)
    bad = await client.put("/v1/profile", json={"timezone": "Mars/Olympus"}, headers=headers)
    assert (bad.status, (await bad.json())["error"]["field"]) == (400, "timezone")
    good = await client.put("/v1/profile", json={"timezone": "America/Chicago"}, headers=headers)
    assert (await good.json())["data"]["timezone"] == "America/Chicago"
