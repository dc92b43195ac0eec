"""Follow-through on a booking (issue 25): a reminder to both sides 24 hours before the gig,
the morning after a prompt to mark it played (D-080) and review each other; each once,
however many times and however concurrently the `booking-reminders` cron runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from tests.conftest import run_umbrella, start_client, subprocess_env
from tests.fakes.resend import FakeResend, use_fake_resend
from tests.fakes.twilio import FakeTwilio, use_fake_twilio
from tests.gigs.marketplace import (
    Client,
    Person,
    apply,
    artist,
    decide,
    in_days,
    notifications_of,
    post_gig,
    venue,
)
from tests.workers import eventually, in_process_worker
from umbrella import keys
from umbrella.app import create_app
from umbrella.config import Settings
from umbrella.core.cron_runs import CronRun
from umbrella.gigs import reminders

GIG_DAY = in_days(10)
STARTS = datetime.combine(GIG_DAY, time(21, 0), tzinfo=UTC)


@pytest.fixture
async def marketplace(
    settings: Settings, fake_resend: FakeResend, fake_twilio: FakeTwilio
) -> AsyncIterator[tuple[Client, Settings]]:
    configured = use_fake_twilio(use_fake_resend(settings, fake_resend), fake_twilio)
    client = await start_client(create_app(configured))
    yield client, configured
    await client.close()


async def book(client: Client, owner: Person, singer: Person, **gig: Any) -> tuple[str, str]:
    """A gig of `owner` (on GIG_DAY at 21:00 unless told) with `singer` booked on it."""
    fields = {"address": "12 Main St", "zip": "78701", "payment_amount": "500.00", **gig}
    posted = await post_gig(client, owner, date=fields.pop("date", GIG_DAY.isoformat()), **fields)
    response = await apply(client, posted["id"], singer)
    application_id = (await response.json())["data"]["id"]
    accepted = await decide(client, posted["id"], application_id, owner, "accept")
    assert accepted.status == 200, await accepted.text()
    return posted["id"], application_id


async def kinds_sent(person: Person, kind: str) -> list[str]:
    return sorted(row["channel"] for row in await notifications_of(person.user_id, kind))


async def test_both_sides_are_reminded_once_24_hours_before_by_email_and_text(
    marketplace: tuple[Client, Settings], fake_resend: FakeResend, fake_twilio: FakeTwilio
) -> None:
    client, settings = marketplace
    owner = await venue(client, "The Anchor", email="bookings@anchor.example")
    singer = await artist(client, "Luna Vega", email="luna@example.com")
    _, booking_id = await book(client, owner, singer)

    # 25 hours before: not yet; 23 hours before: both sides, once however often it runs
    assert await reminders.send_reminders(settings=settings, now=STARTS - timedelta(hours=25)) == 0
    due = STARTS - timedelta(hours=23)
    assert await reminders.send_reminders(settings=settings, now=due) == 1
    assert await reminders.send_reminders(settings=settings, now=due) == 0
    assert await reminders.send_reminders(settings=settings, now=due + timedelta(hours=1)) == 0
    for person in (singer, owner):
        assert await kinds_sent(person, "booking_reminder") == ["email", "sms"]

    async with in_process_worker(settings):
        await eventually(
            lambda: _sent(fake_resend, fake_twilio, "Tomorrow", "reminder", 2),
            what="the reminder to both sides by email and text",
        )
    link = f"{settings.app_url.rstrip('/')}/bookings/{booking_id}"
    mails = {m["to"][0]: m for m in fake_resend.sent if m["subject"].startswith("Tomorrow")}
    assert set(mails) == {"luna@example.com", "bookings@anchor.example"}
    assert "you play Friday Night Live at The Anchor tomorrow" in mails["luna@example.com"]["text"]
    assert "Luna Vega plays Friday Night Live tomorrow" in mails["bookings@anchor.example"]["text"]
    for mail in mails.values():
        assert "(9:00 PM to 11:30 PM)" in mail["text"]
        assert "Where: The Anchor, 12 Main St, Austin, TX 78701" in mail["text"]
        assert "Pay: $500.00 flat" in mail["text"]
        assert link in mail["text"]
    texts = [m["Body"] for m in fake_twilio.sent if "reminder" in m["Body"]]
    assert len(texts) == 2
    assert all("12 Main St" in text and text.endswith(link) for text in texts)


async def test_two_concurrent_runs_remind_each_booking_once(client: Client) -> None:
    owner = await venue(client)
    settings = client.app[keys.SETTINGS]
    singers = [await artist(client, f"Singer {number}") for number in range(3)]
    for singer in singers:
        await book(client, owner, singer, capacity=1)
    due = STARTS - timedelta(hours=12)
    runs = await asyncio.gather(
        *(reminders.send_reminders(settings=settings, now=due) for _ in range(4))
    )
    assert sum(runs) == 3
    for singer in singers:
        assert await kinds_sent(singer, "booking_reminder") == ["email", "sms"]
    # the venue hears of each booking once
    assert len(await notifications_of(owner.user_id, "booking_reminder")) == 3 * 2


async def test_the_cron_run_twice_by_hand_sends_one_reminder_each(
    client: Client, settings: Settings
) -> None:
    owner = await venue(client)
    singer = await artist(client)
    # a gig starting in about six hours (gigs' times are UTC)
    starts = (datetime.now(UTC) + timedelta(hours=6)).replace(second=0, microsecond=0)
    await book(
        client,
        owner,
        singer,
        date=starts.date().isoformat(),
        start_time=starts.time().isoformat(),
        end_time=None,
    )
    for _ in range(2):
        result = await run_umbrella("cron", "booking-reminders", env=subprocess_env(settings))
        assert result.code == 0, result.stderr
    assert "reminded both sides of 0 bookings" in result.stdout  # the second run
    for person in (singer, owner):
        assert await kinds_sent(person, "booking_reminder") == ["email", "sms"]
    runs = await CronRun.select(CronRun.outcome).where(CronRun.job == "booking-reminders")
    assert [run["outcome"] for run in runs] == ["succeeded", "succeeded"]


async def test_no_reminder_for_a_cancelled_gig_or_an_application_not_accepted(
    client: Client,
) -> None:
    owner = await venue(client)
    settings = client.app[keys.SETTINGS]
    booked = await artist(client, "Booked")
    waiting = await artist(client, "Waiting")
    gig_id, _ = await book(client, owner, booked, capacity=2)
    await apply(client, gig_id, waiting)
    cancelled = await client.post(f"/v1/gigs/{gig_id}/cancel", headers=owner.headers)
    assert cancelled.status == 200
    due = STARTS - timedelta(hours=12)
    assert await reminders.send_reminders(settings=settings, now=due) == 0
    assert await notifications_of(booked.user_id, "booking_reminder") == []
    assert await notifications_of(waiting.user_id, "booking_reminder") == []


def morning_after(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(hour, minute), tzinfo=UTC)


async def test_the_morning_after_both_are_asked_to_complete_and_review_once(
    marketplace: tuple[Client, Settings], fake_resend: FakeResend
) -> None:
    client, settings = marketplace
    owner = await venue(client, "The Anchor", email="bookings@anchor.example")
    singer = await artist(client, "Luna Vega", email="luna@example.com")
    assert singer.artist_id is not None
    gig_id, booking_id = await book(client, owner, singer)

    assert await reminders.send_follow_ups(settings=settings, now=STARTS) == 0
    assert (
        await reminders.send_follow_ups(settings=settings, now=morning_after(GIG_DAY, 8, 59)) == 0
    )
    assert await reminders.send_follow_ups(settings=settings, now=morning_after(GIG_DAY, 9)) == 1
    assert await reminders.send_follow_ups(settings=settings, now=morning_after(GIG_DAY, 10)) == 0

    base = f"{settings.app_url.rstrip('/')}/gigs/{gig_id}/reviews"
    [to_artist] = await notifications_of(singer.user_id, "gig_follow_up")
    [to_venue] = await notifications_of(owner.user_id, "gig_follow_up")
    assert (to_artist["channel"], to_venue["channel"]) == ("email", "email")
    assert to_artist["payload"]["review_url"] == f"{base}/venue"
    assert to_venue["payload"]["review_url"] == f"{base}/artist/{singer.artist_id}"
    assert to_artist["payload"]["completed"] is False

    async with in_process_worker(settings):
        await eventually(
            lambda: _sent(fake_resend, None, "How did", "", 2),
            what="the follow-up to both sides",
        )
    mails = {m["to"][0]: m for m in fake_resend.sent if m["subject"].startswith("How did")}
    link = f"{settings.app_url.rstrip('/')}/bookings/{booking_id}"
    assert "Mark it played" in mails["luna@example.com"]["text"]
    assert link in mails["luna@example.com"]["text"]
    assert f"Review The Anchor: {base}/venue" in mails["luna@example.com"]["text"]
    venue_text = mails["bookings@anchor.example"]["text"]
    assert f"Review Luna Vega: {base}/artist/{singer.artist_id}" in venue_text


async def test_a_completed_gig_is_followed_up_with_the_reviews_only(client: Client) -> None:
    owner = await venue(client)
    singer = await artist(client)
    settings = client.app[keys.SETTINGS]
    today = in_days(0)
    gig_id, _ = await book(
        client, owner, singer, date=today.isoformat(), start_time="00:00", end_time="00:30"
    )
    done = await client.post(f"/v1/gigs/{gig_id}/complete", headers=singer.headers)
    assert done.status == 200, await done.text()
    # a week later than the morning after: a missed prompt is still sent
    late = morning_after(today, 9) + timedelta(days=6)
    assert await reminders.send_follow_ups(settings=settings, now=late) == 1
    [to_artist] = await notifications_of(singer.user_id, "gig_follow_up")
    assert to_artist["payload"]["completed"] is True


async def test_no_follow_up_for_a_cancelled_gig_or_long_after(client: Client) -> None:
    owner = await venue(client)
    settings = client.app[keys.SETTINGS]
    gig_id, _ = await book(client, owner, await artist(client, "Cancelled"), capacity=1)
    await client.post(f"/v1/gigs/{gig_id}/cancel", headers=owner.headers)
    assert await reminders.send_follow_ups(settings=settings, now=morning_after(GIG_DAY, 9)) == 0
    other_day = in_days(20)
    await book(client, owner, await artist(client, "Forgotten"), date=other_day.isoformat())
    too_late = morning_after(other_day, 9) + timedelta(days=9)
    assert await reminders.send_follow_ups(settings=settings, now=too_late) == 0


async def _sent(
    resend: FakeResend, twilio: FakeTwilio | None, subject: str, body: str, count: int
) -> bool:
    mails = [m for m in resend.sent if m["subject"].startswith(subject)]
    texts = [m for m in twilio.sent if body in m["Body"]] if twilio is not None else []
    return len(mails) >= count and (twilio is None or len(texts) >= count)
