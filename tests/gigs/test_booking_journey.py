"""End to end: a venue posts, artists apply, both sides hear of it by email and text, the
venue books, the gig fills, the others are told, the gig is played, earnings and reviews
follow. Real HTTP, Postgres, Redis, the worker and the fake Resend and Twilio."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import start_client
from tests.fakes.resend import FakeResend, use_fake_resend
from tests.fakes.twilio import FakeTwilio, use_fake_twilio
from tests.gigs.marketplace import Client, Person, artist, in_days, venue
from tests.workers import eventually, in_process_worker
from umbrella.accounts.tables import User
from umbrella.app import create_app
from umbrella.artists.tables import Artist
from umbrella.config import Settings
from umbrella.gigs.tables import Gig


@pytest.fixture
async def marketplace(
    settings: Settings, fake_resend: FakeResend, fake_twilio: FakeTwilio
) -> AsyncIterator[tuple[Client, Settings]]:
    configured = use_fake_twilio(use_fake_resend(settings, fake_resend), fake_twilio)
    client = await start_client(create_app(configured))
    yield client, configured
    await client.close()


async def data(response: Any, status: int = 200) -> Any:
    body = await response.json()
    assert response.status == status, body
    return body["data"]


def emails_to(fake: FakeResend, address: str) -> list[dict[str, Any]]:
    return [mail for mail in fake.sent if mail["to"] == [address]]


def texts_to(fake: FakeTwilio, number: str) -> list[str]:
    return [text["Body"] for text in fake.sent if text["To"] == number]


async def phone_of(person: Person) -> str:
    row = await User.select(User.phone).where(User.id == person.user_id).first()
    assert row is not None
    return str(row["phone"])


async def test_a_gig_from_posting_to_reviews(
    marketplace: tuple[Client, Settings], fake_resend: FakeResend, fake_twilio: FakeTwilio
) -> None:
    client, settings = marketplace
    owner = await venue(client, "The Anchor", email="bookings@anchor.example")
    luna = await artist(client, "Luna Vega", email="luna@example.com")
    milo = await artist(client, "Milo Reyes", email="milo@example.com")

    # the venue posts a one-slot gig for tonight
    gig = await data(
        await client.post(
            "/v1/gigs",
            json={
                "title": "Songwriter Night",
                "city": "Austin",
                "state": "TX",
                "date": in_days(0).isoformat(),
                "start_time": "23:00",
                "end_time": "23:59",
                "genre": "folk",
                "payment_amount": "180.00",
                "capacity": 1,
            },
            headers=owner.headers,
        ),
        201,
    )
    # both artists find it in the marketplace and apply with one click
    for singer in (luna, milo):
        page = await data(await client.get("/v1/gigs?genre=folk", headers=singer.headers))
        assert [item["id"] for item in page["items"]] == [gig["id"]]
        await data(await client.post(f"/v1/gigs/{gig['id']}/apply", headers=singer.headers), 201)

    async with in_process_worker(settings):
        await eventually(
            lambda: _count(fake_resend, fake_twilio, emails=4, texts=4),
            what="application confirmations (D-079) to both sides",
        )
    assert any(
        "Milo Reyes" in mail["subject"]
        for mail in emails_to(fake_resend, "bookings@anchor.example")
    )
    [sent_text] = texts_to(fake_twilio, await phone_of(luna))
    assert "Songwriter Night" in sent_text

    # the venue reads the applications (profile, rates, portfolio) and books Luna
    page = await data(await client.get(f"/v1/gigs/{gig['id']}/applications", headers=owner.headers))
    chosen = next(item for item in page["items"] if item["profile"]["stage_name"] == "Luna Vega")
    decision = await data(
        await client.post(
            f"/v1/gigs/{gig['id']}/applications/{chosen['id']}/accept", headers=owner.headers
        )
    )
    assert decision["gig"]["status"] == "filled"
    assert decision["declined_applications"] == 1
    # a full gig leaves the marketplace
    page = await data(await client.get("/v1/gigs", headers=milo.headers))
    assert page["items"] == []

    async with in_process_worker(settings):
        await eventually(
            lambda: _count(fake_resend, fake_twilio, emails=7, texts=6),
            what="booking confirmations to both sides and the decline to Milo",
        )
    [booked] = [
        m for m in emails_to(fake_resend, "luna@example.com") if "confirmed" in m["subject"]
    ]
    assert "The Anchor accepted your application" in booked["text"]
    [declined] = [m for m in emails_to(fake_resend, "milo@example.com") if "Update" in m["subject"]]
    assert "filled Songwriter Night" in declined["text"]
    assert any("booked" in text for text in texts_to(fake_twilio, await phone_of(luna)))
    mine = await data(await client.get("/v1/applications", headers=milo.headers))
    assert mine["items"][0]["status"] == "rejected"

    # the night is played: Luna marks it completed with what she earned (D-080)
    done = await data(
        await client.post(
            f"/v1/gigs/{gig['id']}/complete",
            json={"earned_amount": "200.00"},
            headers=luna.headers,
        )
    )
    assert done["gig"]["status"] == "completed"
    totals = (
        await Artist.select(Artist.total_gigs, Artist.total_earnings)
        .where(Artist.id == luna.artist_id)
        .first()
    )
    assert totals == {"total_gigs": 1, "total_earnings": Decimal("200.00")}
    profile = await data(await client.get(f"/v1/profile/{luna.artist_id}"))
    assert profile["total_gigs"] == 1  # the cached profile was refreshed

    # and both sides review each other (D-034)
    await data(
        await client.post(
            f"/v1/gigs/{gig['id']}/reviews/artist/{luna.artist_id}",
            json={"rating": 5, "comment": "Packed the room"},
            headers=owner.headers,
        ),
        201,
    )
    await data(
        await client.post(
            f"/v1/gigs/{gig['id']}/reviews/venue",
            json={"rating": 4, "comment": "Great sound, paid on time"},
            headers=luna.headers,
        ),
        201,
    )
    card = (await data(await client.get(f"/v1/gigs/{gig['id']}", headers=milo.headers)))["venue"]
    assert (card["completed_gigs"], card["avg_rating"], card["total_reviews"]) == (1, "4.00", 1)
    stored = await Gig.select(Gig.status, Gig.filled_slots).where(Gig.id == gig["id"]).first()
    assert stored == {"status": "completed", "filled_slots": 1}


async def _count(resend: FakeResend, twilio: FakeTwilio, *, emails: int, texts: int) -> bool:
    return len(resend.sent) >= emails and len(twilio.sent) >= texts
