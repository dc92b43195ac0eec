"""The venue card read from `venue_stats`: the same numbers as counting every gig, kept fresh."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from tests.conftest import run_umbrella, subprocess_env
from tests.gigs.marketplace import (
    Client,
    Person,
    apply,
    artist,
    decide,
    in_days,
    insert_gig,
    post_gig,
    venue,
)
from umbrella.config import Settings
from umbrella.core.cron_runs import CronRun
from umbrella.gigs import service, venue_cards
from umbrella.gigs.tables import Gig, VenueStats
from umbrella.reviews.tables import VenueReview


async def _history(owner: Person, reviewer: Person) -> None:
    """Three completed gigs, a cancelled one, a past one never completed, two reviews."""
    now = datetime.now(UTC)
    completed = []
    for pay in ("100.00", "300.00", "200.00"):
        completed.append(
            await insert_gig(
                owner.user_id,
                date=in_days(-30),
                status="completed",
                completed_at=now,
                payment_amount=Decimal(pay),
                filled_slots=1,
            )
        )
    await insert_gig(owner.user_id, date=in_days(-20), status="cancelled", cancelled_at=now)
    await insert_gig(owner.user_id, date=in_days(-10), payment_type="hourly")
    await insert_gig(owner.user_id, date=in_days(12), payment_amount=Decimal("500.05"))
    for gig_id, rating in zip(completed, (5, 4), strict=False):
        await VenueReview.insert(
            VenueReview(
                gig_id=gig_id,
                venue_user_id=owner.user_id,
                reviewer_artist_id=reviewer.artist_id,
                rating=rating,
                created_at=now,
            )
        )


async def _card(client: Client, gig_id: Any, viewer: Person) -> dict[str, Any]:
    response = await client.get(f"/v1/gigs/{gig_id}", headers=viewer.headers)
    assert response.status == 200, await response.text()
    card: dict[str, Any] = (await response.json())["data"]["venue"]
    return card


async def _stats_row(venue_id: UUID) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await VenueStats.select().where(VenueStats.venue_id == venue_id).first()
    )
    return row


async def test_the_card_from_venue_stats_equals_the_live_count(client: Client) -> None:
    owner, other = await venue(client), await venue(client, "The Lantern")
    singer = await artist(client)
    await _history(owner, singer)
    await insert_gig(other.user_id, date=in_days(-3), payment_amount=Decimal("80.00"))
    gig = await post_gig(client, owner, payment_amount="250.00")
    ids = [owner.user_id, other.user_id]
    live = await venue_cards.live_venue_cards(ids, on=service.today())

    assert await venue_cards.update_venue_stats(on=service.today()) == 2

    assert await _stats_row(owner.user_id) is not None
    assert await venue_cards.venue_cards(ids, on=service.today()) == live
    assert await _card(client, gig["id"], singer) == {
        "venue_id": str(owner.user_id),
        "completed_gigs": 3,
        "past_gigs": 5,  # the cancelled and the never completed gig count against the rate
        "completion_rate": 0.6,
        # median of 100, 300, 200, 500.05 and 250: flat, not cancelled, past or coming
        "typical_pay": "250.00",
        "avg_rating": "4.50",
        "total_reviews": 2,
    }


async def test_a_venue_without_a_stats_row_gets_its_card_live(client: Client) -> None:
    known, newcomer = await venue(client), await venue(client, "The Newcomer")
    singer = await artist(client)
    await _history(known, singer)
    assert await venue_cards.update_venue_stats(on=service.today()) == 1
    # the newcomer posts after the last refresh: no row yet, and yet a true card
    for pay in ("120.00", "150.00"):
        await post_gig(client, newcomer, payment_amount=pay)
    gig = await post_gig(client, newcomer, payment_amount="130.00")
    assert await _stats_row(newcomer.user_id) is None

    cards = await venue_cards.venue_cards([known.user_id, newcomer.user_id], on=service.today())

    assert cards == await venue_cards.live_venue_cards(
        [known.user_id, newcomer.user_id], on=service.today()
    )
    assert await _card(client, gig["id"], singer) == {
        "venue_id": str(newcomer.user_id),
        "completed_gigs": 0,
        "past_gigs": 0,
        "completion_rate": None,
        "typical_pay": "130.00",
        "avg_rating": None,
        "total_reviews": 0,
    }


async def test_the_refresh_is_idempotent_and_follows_changes(client: Client) -> None:
    owner = await venue(client)
    singer = await artist(client)
    await _history(owner, singer)
    assert await venue_cards.update_venue_stats(on=service.today()) == 1
    first = await _stats_row(owner.user_id)
    assert await venue_cards.update_venue_stats(on=service.today()) == 1
    again = await _stats_row(owner.user_id)
    assert first is not None
    assert again is not None
    assert {k: v for k, v in again.items() if k != "refreshed_at"} == {
        k: v for k, v in first.items() if k != "refreshed_at"
    }
    assert again["refreshed_at"] >= first["refreshed_at"]
    assert await VenueStats.count() == 1

    # a gig written behind the service's back shows after the next refresh
    await insert_gig(owner.user_id, date=in_days(-2), payment_amount=Decimal("900.00"))
    await venue_cards.update_venue_stats(on=service.today())
    card = (await venue_cards.venue_cards([owner.user_id], on=service.today()))[owner.user_id]
    assert (card.past_gigs, card.typical_pay) == (6, Decimal("300.00"))
    live = await venue_cards.live_venue_cards([owner.user_id], on=service.today())
    assert card == live[owner.user_id]


async def test_completing_or_cancelling_a_gig_updates_the_card_at_once(client: Client) -> None:
    owner = await venue(client)
    singer = await artist(client)
    await _history(owner, singer)
    gig = await post_gig(client, owner, payment_amount="250.00")
    doomed = await post_gig(client, owner, payment_amount="10.00")
    application = (await (await apply(client, gig["id"], singer)).json())["data"]
    assert (await decide(client, gig["id"], application["id"], owner, "accept")).status == 200
    await venue_cards.update_venue_stats(on=service.today())
    before = await _card(client, gig["id"], singer)
    assert (before["completed_gigs"], before["typical_pay"]) == (3, "225.00")

    await Gig.update({Gig.date: in_days(0)}).where(Gig.id == gig["id"])
    completed = await client.post(f"/v1/gigs/{gig['id']}/complete", headers=owner.headers)
    assert completed.status == 200, await completed.text()
    cancelled = await client.post(f"/v1/gigs/{doomed['id']}/cancel", headers=owner.headers)
    assert cancelled.status == 200, await cancelled.text()

    after = await _card(client, gig["id"], singer)
    # no refresh ran: the completion and the cancel rewrote the venue's row themselves
    assert (after["completed_gigs"], after["past_gigs"], after["typical_pay"]) == (4, 6, "250.00")
    row = await _stats_row(owner.user_id)
    assert row is not None
    assert row["completed_gigs"] == 4

    # The booked artist reviews the venue: the card shows it without waiting for the job.
    assert (after["avg_rating"], after["total_reviews"]) == ("4.50", 2)
    reviewed = await client.post(
        f"/v1/gigs/{gig['id']}/reviews/venue", json={"rating": 3}, headers=singer.headers
    )
    assert reviewed.status == 201, await reviewed.text()
    rated = await _card(client, gig["id"], singer)
    assert (rated["avg_rating"], rated["total_reviews"]) == ("4.00", 3)


async def test_the_venue_stats_job_runs_from_the_command_line(
    client: Client, settings: Settings
) -> None:
    owner = await venue(client)
    singer = await artist(client)
    await _history(owner, singer)

    result = await run_umbrella("cron", "venue-stats", env=subprocess_env(settings))

    assert result.code == 0, result.stderr
    assert "refreshed the card numbers of 1 venues" in result.stdout
    row = await _stats_row(owner.user_id)
    assert row is not None
    assert (row["completed_gigs"], row["past_gigs"], row["total_reviews"]) == (3, 5, 2)
    runs = await CronRun.select(CronRun.outcome).where(CronRun.job == "venue-stats")
    assert runs == [{"outcome": "succeeded"}]
