"""The agreed deal on record (issue 25): accepting records the terms; both sides read them,
the confirmation email and text carry them, and a venue's later edit leaves them alone."""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, start_client
from tests.fakes.resend import FakeResend, use_fake_resend
from tests.fakes.twilio import FakeTwilio, use_fake_twilio
from tests.gigs.marketplace import (
    Client,
    Person,
    apply,
    artist,
    decide,
    error_of,
    in_days,
    insert_gig,
    notifications_of,
    post_gig,
    venue,
)
from tests.workers import eventually, in_process_worker
from umbrella.accounts.tables import User
from umbrella.app import create_app
from umbrella.config import Settings
from umbrella.core import db
from umbrella.gigs.tables import BookingTerms, GigApplication

TERMS = {
    "title": "Friday Night Live",
    "address": "12 Main St",
    "zip": "78701",
    "payment_amount": "500.00",
    "payment_type": "flat",
}


@pytest.fixture
async def marketplace(
    settings: Settings, fake_resend: FakeResend, fake_twilio: FakeTwilio
) -> AsyncIterator[tuple[Client, Settings]]:
    configured = use_fake_twilio(use_fake_resend(settings, fake_resend), fake_twilio)
    client = await start_client(create_app(configured))
    yield client, configured
    await client.close()


async def book(client: Client, owner: Person, singer: Person, **gig: Any) -> tuple[str, str]:
    """A gig of `owner` with `singer` booked on it: (gig id, booking id)."""
    posted = await post_gig(client, owner, **{**TERMS, **gig})
    response = await apply(client, posted["id"], singer)
    assert response.status == 201, await response.text()
    application_id = (await response.json())["data"]["id"]
    accepted = await decide(client, posted["id"], application_id, owner, "accept")
    assert accepted.status == 200, await accepted.text()
    return posted["id"], application_id


async def read(client: Client, booking_id: str, person: Person) -> Any:
    return await client.get(f"/v1/bookings/{booking_id}", headers=person.headers)


async def test_both_sides_read_the_agreed_terms_and_a_later_edit_leaves_them(
    client: Client,
) -> None:
    owner = await venue(client, "The Anchor")
    singer = await artist(client, "Luna Vega")
    gig_id, booking_id = await book(client, owner, singer, capacity=2)

    for person in (singer, owner):
        response = await read(client, booking_id, person)
        assert response.status == 200, await response.text()
        booking = (await response.json())["data"]
        assert booking["id"] == booking_id
        assert booking["gig_id"] == gig_id
        assert booking["artist_name"] == "Luna Vega"
        assert (booking["status"], booking["gig_status"]) == ("accepted", "open")
        assert (booking["date"], booking["start_time"], booking["end_time"]) == (
            in_days(10).isoformat(),
            "21:00:00",
            "23:30:00",
        )
        assert (booking["venue_name"], booking["address"], booking["city"], booking["zip"]) == (
            "The Anchor",
            "12 Main St",
            "Austin",
            "78701",
        )
        assert (booking["payment_amount"], booking["currency"], booking["payment_type"]) == (
            "500.00",
            "USD",
            "flat",
        )
        assert booking["description"] == "Indie night in the back room."
        assert booking["booking_url"].endswith(f"/bookings/{booking_id}")

    # the venue cuts the pay and moves the gig: the deal on record stays as agreed
    edited = await client.put(
        f"/v1/gigs/{gig_id}",
        json={"payment_amount": "50.00", "date": in_days(12).isoformat(), "title": "Moved"},
        headers=owner.headers,
    )
    assert edited.status == 200, await edited.text()
    booking = (await (await read(client, booking_id, singer)).json())["data"]
    assert (booking["payment_amount"], booking["date"], booking["title"]) == (
        "500.00",
        in_days(10).isoformat(),
        "Friday Night Live",
    )
    stored = await BookingTerms.select(BookingTerms.pay_minor).first()
    assert stored == {"pay_minor": 50_000}


async def test_nobody_else_sees_a_booking(client: Client) -> None:
    owner = await venue(client)
    singer = await artist(client)
    gig_id, booking_id = await book(client, owner, singer)
    other_artist = await artist(client, "Milo Reyes")
    other_venue = await venue(client, "The Mill")
    for person in (other_artist, other_venue):
        assert await error_of(await read(client, booking_id, person)) == (
            404,
            "NOT_FOUND",
            "booking_id",
        )
    # an application still waiting is no booking yet
    waiting = await apply(client, gig_id, other_artist)
    pending_id = (await waiting.json())["data"]["id"]
    assert (await read(client, pending_id, owner)).status == 404
    assert (await read(client, "not-a-uuid", owner)).status == 400
    assert (await client.get(f"/v1/bookings/{booking_id}")).status == 401


async def test_negotiable_and_hourly_pay_read_as_agreed(client: Client) -> None:
    owner = await venue(client)
    singer = await artist(client)
    _, negotiable = await book(
        client, owner, singer, payment_type="negotiable", payment_amount=None
    )
    booking = (await (await read(client, negotiable, singer)).json())["data"]
    assert (booking["payment_amount"], booking["payment_type"]) == (None, "negotiable")
    confirmation = await notifications_of(singer.user_id, "booking_confirmation")
    assert confirmation[0]["payload"]["pay"] == "negotiable"

    hourly_singer = await artist(client, "Milo Reyes")
    _, hourly = await book(
        client, owner, hourly_singer, payment_type="hourly", payment_amount="40.50"
    )
    booking = (await (await read(client, hourly, hourly_singer)).json())["data"]
    assert booking["payment_amount"] == "40.50"
    confirmation = await notifications_of(hourly_singer.user_id, "booking_confirmation")
    assert confirmation[0]["payload"]["pay"] == "$40.50 an hour"


async def test_the_confirmation_email_and_text_carry_date_times_address_pay_and_a_link(
    marketplace: tuple[Client, Settings], fake_resend: FakeResend, fake_twilio: FakeTwilio
) -> None:
    client, settings = marketplace
    owner = await venue(client, "The Anchor", email="bookings@anchor.example")
    singer = await artist(client, "Luna Vega", email="luna@example.com")
    _, booking_id = await book(client, owner, singer, capacity=1)
    link = f"{settings.app_url.rstrip('/')}/bookings/{booking_id}"

    async with in_process_worker(settings):
        await eventually(
            lambda: _confirmations_sent(fake_resend, fake_twilio),
            what="booking confirmations to both sides by email and text",
        )
    day = in_days(10)
    date_text = f"{day:%a}, {day:%B} {day.day}, {day.year}, 9:00 PM"
    for address in ("luna@example.com", "bookings@anchor.example"):
        [mail] = [
            mail
            for mail in fake_resend.sent
            if mail["to"] == [address] and mail["subject"].startswith("Booking confirmed")
        ]
        assert mail["subject"] == f"Booking confirmed: Friday Night Live on {date_text}"
        assert f"When: {date_text} (9:00 PM to 11:30 PM)" in mail["text"]
        assert "Where: The Anchor, 12 Main St, Austin, TX 78701" in mail["text"]
        assert "Pay: $500.00 flat" in mail["text"]
        assert f"Your booking: {link}" in mail["text"]
    phones = await _phones(singer, owner)
    for phone in phones:
        [text] = [m["Body"] for m in fake_twilio.sent if m["To"] == phone and "booked" in m["Body"]]
        assert date_text in text
        assert "9:00 PM to 11:30 PM" in text
        assert "12 Main St" in text
        assert "$500.00 flat" in text
        assert text.endswith(link)


async def test_accepting_records_the_terms_once_in_the_accept(client: Client) -> None:
    owner = await venue(client)
    singer = await artist(client)
    gig_id, booking_id = await book(client, owner, singer, capacity=2)
    again = await decide(client, gig_id, booking_id, owner, "accept")
    assert (await error_of(again))[0] == 409
    assert await BookingTerms.count() == 1
    # a declined application has no terms
    milo = await artist(client, "Milo Reyes")
    response = await apply(client, gig_id, milo)
    declined = await decide(client, gig_id, (await response.json())["data"]["id"], owner, "reject")
    assert declined.status == 200
    assert await BookingTerms.count() == 1


async def test_the_migration_backfills_terms_of_existing_bookings_from_their_gig(
    client: Client,
) -> None:
    # Loaded by path: migrations/ is checked by mypy as files, not as a package.
    spec = importlib.util.spec_from_file_location(
        "gigs_0006_booking_terms", REPO_ROOT / "migrations/gigs/gigs_0006_booking_terms.py"
    )
    assert spec is not None
    assert spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    forwards: list[str] = migration.FORWARDS

    owner = await venue(client)
    singer = await artist(client)
    assert singer.artist_id is not None
    upcoming = await insert_gig(owner.user_id, date=in_days(3), address="1 Dock Rd")
    played = await insert_gig(owner.user_id, date=in_days(-3))
    now = datetime.now(UTC)
    for gig_id in (upcoming, played):
        await GigApplication.insert(
            GigApplication(
                gig_id=gig_id,
                artist_id=singer.artist_id,
                status="accepted",
                responded_at=now,
                applied_at=now,
                updated_at=now,
            )
        )
    backfill = [sql for sql in forwards if "INSERT INTO booking_terms" in sql or "UPDATE" in sql]
    for sql in backfill:
        await db.fetch(sql)
    rows = await BookingTerms.select(
        BookingTerms.gig_id,
        BookingTerms.address,
        BookingTerms.pay_minor,
        BookingTerms.reminder_sent_at,
        BookingTerms.follow_up_sent_at,
    ).order_by(BookingTerms.date)
    assert [(row["gig_id"], row["pay_minor"]) for row in rows] == [
        (played, 20_000),
        (upcoming, 20_000),
    ]
    assert rows[1]["address"] == "1 Dock Rd"
    # a gig played before the migration is not reminded of or followed up any more
    assert rows[0]["reminder_sent_at"] is not None
    assert rows[0]["follow_up_sent_at"] is not None
    assert (rows[1]["reminder_sent_at"], rows[1]["follow_up_sent_at"]) == (None, None)
    # running it again (a retried migration) writes nothing twice
    for sql in backfill[:1]:
        await db.fetch(sql)
    assert await BookingTerms.count() == 2


async def _phones(*people: Person) -> list[str]:
    rows = await User.select(User.phone).where(User.id.is_in([p.user_id for p in people]))
    return [str(row["phone"]) for row in rows]


async def _confirmations_sent(resend: FakeResend, twilio: FakeTwilio) -> bool:
    mails = [m for m in resend.sent if m["subject"].startswith("Booking confirmed")]
    texts = [m for m in twilio.sent if "booked" in m["Body"]]
    return len(mails) >= 2 and len(texts) >= 2
