"""The daily gig-alerts digest, run by hand: one email a day, never the same gig twice, urgent
gigs by text when asked, and the email's one-click link that turns an alert off."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import pytest

from tests.alerts.test_alerts import create
from tests.fakes.resend import FakeResend, use_fake_resend
from tests.fakes.twilio import FakeTwilio, use_fake_twilio
from tests.gigs.marketplace import (
    Client,
    Person,
    artist,
    error_of,
    in_days,
    notifications_of,
    post_gig,
    venue,
)
from tests.workers import eventually, in_process_worker
from umbrella import keys
from umbrella.alerts import digest
from umbrella.alerts.tables import GigAlert
from umbrella.config import Settings
from umbrella.core.cron import CronContext, all_cron_jobs, run_cron_job
from umbrella.notifications.tables import Notification

INDIE_IN_AUSTIN = {
    "name": "Austin indie",
    "filters": {"genres": ["indie"], "city": "austin", "payment_min": "150"},
}


async def run_job(client: Client) -> str:
    """`umbrella cron gig-alerts` as the CronJob runs it: locked and recorded."""
    job = all_cron_jobs()["gig-alerts"]
    context = CronContext(settings=client.app[keys.SETTINGS], redis=None)
    return (await run_cron_job(job, context)).summary


async def run_on(client: Client, day_offset: int) -> digest.DigestReport:
    """The digest as it will run `day_offset` days from now."""
    now = datetime.now(UTC) + timedelta(days=day_offset)
    return await digest.send_digests(settings=client.app[keys.SETTINGS], now=now)


async def digests_of(person: Person, channel: str = "email") -> list[dict[str, Any]]:
    rows = await notifications_of(person.user_id, "gig_alerts")
    return [row for row in rows if row["channel"] == channel]


def titles(notification: dict[str, Any]) -> list[str]:
    return [gig["title"] for gig in notification["payload"]["gigs"]]


async def test_two_runs_send_one_digest_and_the_next_day_never_repeats_a_gig(
    client: Client,
) -> None:
    assert all_cron_jobs()["gig-alerts"].schedule == "0 14 * * *"
    luna = await artist(client)
    assert (await create(client, luna, INDIE_IN_AUSTIN)).status == 201
    # A second alert matching the same gig: it is still told once, under both names.
    assert (
        await create(client, luna, {"name": "Any indie", "filters": {"genres": ["indie"]}})
    ).status == 201
    rio = await artist(client, "Rio Metal")
    assert (
        await create(client, rio, {"name": "Metal", "filters": {"genres": ["metal"]}})
    ).status == 201
    owner = await venue(client)
    await post_gig(client, owner, title="Indie Friday", genre="indie", payment_amount="250.00")
    await post_gig(client, owner, title="Jazz Friday", genre="jazz")
    await post_gig(client, owner, title="Cheap Indie", genre="indie", payment_amount="100.00")
    await post_gig(client, owner, title="Dallas Indie", genre="indie", city="Dallas")
    cancelled = await post_gig(client, owner, title="Called Off", genre="indie")
    await client.post(f"/v1/gigs/{cancelled['id']}/cancel", headers=owner.headers)

    first = await run_job(client)
    assert "sent 1 digests" in first
    assert "sent 0 digests" in await run_job(client)  # the same day again: nothing new
    [email] = await digests_of(luna)
    assert sorted(titles(email)) == ["Cheap Indie", "Dallas Indie", "Indie Friday"]
    indie_friday = next(g for g in email["payload"]["gigs"] if g["title"] == "Indie Friday")
    assert indie_friday["alerts"] == ["Austin indie", "Any indie"]
    assert indie_friday["pay"] == "$250.00 flat"
    assert indie_friday["place"] == "Austin, TX"
    assert await digests_of(luna, "sms") == []  # no alert asked for texts
    assert await digests_of(rio) == []  # nothing matched: nothing sent

    # The next day: the gigs already told are not told again; a new one is.
    await post_gig(client, owner, title="Indie Saturday", genre="indie")
    report = await run_on(client, 1)
    assert report.digests == 1
    assert [titles(row) for row in await digests_of(luna)][1:] == [["Indie Saturday"]]
    assert (await run_on(client, 1)).digests == 0
    # The day after, nothing new: no email at all.
    assert (await run_on(client, 2)).digests == 0
    assert len(await digests_of(luna)) == 2
    assert await digests_of(rio) == []


async def test_urgent_gigs_also_go_by_text_to_the_artists_who_asked(client: Client) -> None:
    texts = await artist(client, "Texts Please")
    await create(client, texts, {"name": "Soon", "text_urgent": True})
    quiet = await artist(client, "Email Only")
    await create(client, quiet, {"name": "Soon", "text_urgent": False})
    owner = await venue(client)
    # Within 7 days and under half filled: urgent (D-010).
    urgent = await post_gig(client, owner, title="Tonight-ish", date=in_days(2).isoformat())
    assert urgent["urgency_flag"] is True
    await post_gig(client, owner, title="Next Month", date=in_days(30).isoformat())

    await run_job(client)
    [email] = await digests_of(texts)
    # Urgent first: it goes soonest.
    assert titles(email) == ["Tonight-ish", "Next Month"]
    assert email["payload"]["gigs"][0]["urgent"] is True
    [text] = await digests_of(texts, "sms")
    assert text["payload"] == email["payload"]
    assert len(await digests_of(quiet)) == 1
    assert await digests_of(quiet, "sms") == []


async def test_a_digest_with_only_non_urgent_gigs_sends_no_text(client: Client) -> None:
    luna = await artist(client)
    await create(client, luna, {"name": "Anything", "text_urgent": True})
    owner = await venue(client)
    await post_gig(client, owner, title="Far Off", date=in_days(40).isoformat())
    await run_job(client)
    assert len(await digests_of(luna)) == 1
    assert await digests_of(luna, "sms") == []


@pytest.fixture
async def providers(
    settings: Settings, fake_resend: FakeResend, fake_twilio: FakeTwilio
) -> Settings:
    return use_fake_twilio(
        use_fake_resend(settings, fake_resend, email_timeout_seconds=2.0),
        fake_twilio,
        sms_timeout_seconds=2.0,
    )


async def _sent(notification_ids: list[UUID]) -> bool:
    rows = await Notification.select(Notification.status).where(
        Notification.id.is_in(notification_ids)
    )
    return len(rows) == len(notification_ids) and all(row["status"] == "sent" for row in rows)


async def test_the_email_lists_each_gig_and_its_link_turns_the_alert_off(
    client: Client, providers: Settings, fake_resend: FakeResend, fake_twilio: FakeTwilio
) -> None:
    luna = await artist(client)
    alert = (await (await create(client, luna, {**INDIE_IN_AUSTIN, "text_urgent": True})).json())[
        "data"
    ]
    other = (await (await create(client, luna, {"name": "Jazz anywhere"})).json())["data"]
    await client.put(
        f"/v1/alerts/{other['id']}", json={"filters": {"genres": ["jazz"]}}, headers=luna.headers
    )
    owner = await venue(client, "The Anchor")
    gig = await post_gig(
        client, owner, title="Indie Friday", genre="indie", date=in_days(3).isoformat()
    )
    await run_job(client)
    ids = [
        row["id"]
        for row in await Notification.select(Notification.id).where(
            Notification.user_id == luna.user_id
        )
    ]
    assert len(ids) == 2  # the email and the text
    async with in_process_worker(providers):
        await eventually(lambda: _sent(ids), what="the digest sent")

    [email] = fake_resend.sent
    assert email["subject"] == "1 new gig for you on Umbrella"
    text = email["text"]
    assert "Hi Luna Vega," in text
    assert "Indie Friday at The Anchor" in text
    assert "Austin, TX · $250.00 flat · urgent" in text
    assert "Matches: Austin indie" in text
    assert f"/gigs/{gig['id']}" in text
    assert "Turn an alert off in one click:" in text
    links = dict(re.findall(r"^  (.+?): (\S+/v1/alerts/unsubscribe\?token=\S+)$", text, re.M))
    assert set(links) == {"Austin indie", "Jazz anywhere"}
    [sms] = fake_twilio.sent
    assert sms["Body"].startswith("Umbrella: urgent gig for you: Indie Friday at The Anchor")
    assert f"/gigs/{gig['id']}" in sms["Body"]

    # The link: no session. Opening it changes nothing (mail scanners open links too).
    parts = urlsplit(links["Austin indie"])
    link = f"{parts.path}?{parts.query}"
    page = await client.get(link)
    assert page.status == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert "Turn it off" in await page.text()
    assert (await _alert(client, luna, alert["id"]))["active"] is True
    for _ in range(2):  # the button, then again: the same answer
        done = await client.post(link)
        assert done.status == 200
        assert "Alert off" in await done.text()
    assert (await _alert(client, luna, alert["id"]))["active"] is False
    assert (await _alert(client, luna, other["id"]))["active"] is True
    assert "Alert off" in await (await client.get(link)).text()

    forged = await client.post(link[:-3] + "xyz")
    assert await error_of(forged) == (404, "NOT_FOUND", "token")
    assert await error_of(await client.get("/v1/alerts/unsubscribe")) == (
        404,
        "NOT_FOUND",
        "token",
    )

    # Off: the next day's indie gig is not sent, the jazz alert still works.
    await post_gig(client, owner, title="Indie Again", genre="indie")
    await post_gig(client, owner, title="Jazz Night", genre="jazz")
    await run_on(client, 1)
    later = (await digests_of(luna))[-1]
    assert titles(later) == ["Jazz Night"]
    assert [link["name"] for link in later["payload"]["alerts"]] == ["Jazz anywhere"]


async def _alert(client: Client, person: Person, alert_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/alerts/{alert_id}", headers=person.headers)
    data: dict[str, Any] = (await response.json())["data"]
    return data


async def test_one_artists_failing_digest_holds_up_no_one_and_is_retried(client: Client) -> None:
    broken = await artist(client, "Broken Alert")
    alert = (await (await create(client, broken, {"name": "Mine"})).json())["data"]
    fine = await artist(client, "Fine Alert")
    await create(client, fine, {"name": "Mine"})
    owner = await venue(client)
    await post_gig(client, owner, title="Open Mic")
    # Filters the schema no longer takes (a genre dropped from the list, say).
    await GigAlert.update({GigAlert.filters: '{"genres": ["polka"]}'}).where(
        GigAlert.id == alert["id"]
    )
    with pytest.raises(RuntimeError, match="1 gig alerts digests failed"):
        await run_on(client, 0)
    assert [titles(row) for row in await digests_of(fine)] == [["Open Mic"]]
    assert await digests_of(broken) == []

    await GigAlert.update({GigAlert.filters: "{}"}).where(GigAlert.id == alert["id"])
    assert (await run_on(client, 0)).digests == 1  # rolled back, so the next run sends it
    assert [titles(row) for row in await digests_of(broken)] == [["Open Mic"]]
    assert len(await digests_of(fine)) == 1
