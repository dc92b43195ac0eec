"""Applying (D-077), the venue's answer (D-079) and completion (D-080), under concurrency too."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.factories import bearer_for, make_user
from tests.gigs.marketplace import (
    Client,
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
from umbrella import keys
from umbrella.artists.tables import Artist
from umbrella.gigs import applications
from umbrella.gigs.tables import Gig, GigApplication
from umbrella.notifications.tables import Notification


async def test_one_click_applies_once_and_tells_both_sides(client: Client) -> None:
    owner = await venue(client)
    gig = await post_gig(client, owner)
    singer = await artist(client, "Luna Vega")
    response = await apply(client, gig["id"], singer, message="I know the room well")
    assert response.status == 201
    application = (await response.json())["data"]
    assert application["status"] == "pending"
    assert (application["gig_title"], application["message"]) == (
        "Friday Night Live",
        "I know the room well",
    )
    # a retry (a double click, a lost answer) answers the same application
    again = await apply(client, gig["id"], singer)
    assert again.status == 200
    assert (await again.json())["data"]["id"] == application["id"]
    assert await GigApplication.count() == 1
    # D-079: email and text to the artist and to the venue, once
    to_artist = await notifications_of(singer.user_id, "application_confirmation")
    to_venue = await notifications_of(owner.user_id, "application_confirmation")
    assert sorted(row["channel"] for row in to_artist) == ["email", "sms"]
    assert sorted(row["channel"] for row in to_venue) == ["email", "sms"]
    assert to_venue[0]["payload"]["artist_name"] == "Luna Vega"
    assert to_venue[0]["payload"]["audience"] == "venue"


async def test_concurrent_retries_make_one_application(client: Client) -> None:
    owner = await venue(client)
    gig = await post_gig(client, owner)
    singer = await artist(client)
    responses = await asyncio.gather(*(apply(client, gig["id"], singer) for _ in range(8)))
    ids = {(await response.json())["data"]["id"] for response in responses}
    assert len(ids) == 1
    assert sorted(response.status for response in responses) == [200] * 7 + [201]
    assert len(await notifications_of(singer.user_id, "application_confirmation")) == 2


async def test_closed_gigs_take_no_application_and_nothing_is_written(client: Client) -> None:
    owner = await venue(client)
    now = datetime.now(UTC)
    past = await insert_gig(owner.user_id, date=in_days(-1))
    cancelled = await insert_gig(owner.user_id, status="cancelled", cancelled_at=now)
    full = await insert_gig(owner.user_id, status="filled", capacity=1, filled_slots=1)
    done = await insert_gig(owner.user_id, date=in_days(-3), status="completed", completed_at=now)
    singer = await artist(client)
    for gig_id in (past, cancelled, full, done):
        assert await error_of(await apply(client, gig_id, singer)) == (409, "CONFLICT", "gig_id")
    missing = await apply(client, uuid.uuid4(), singer)
    assert await error_of(missing) == (404, "NOT_FOUND", "gig_id")
    assert await GigApplication.count() == 0
    assert await Notification.count() == 0


async def test_only_artists_who_finished_onboarding_apply(client: Client) -> None:
    owner = await venue(client)
    gig = await post_gig(client, owner)
    halfway = await make_user(role="artist", onboarding_complete=False)
    await Artist.insert(
        Artist(
            user_id=halfway,
            stage_name="Halfway",
            created_at=datetime.now(UTC),
            updated_at=datetime.now(UTC),
        )
    )
    response = await client.post(
        f"/v1/gigs/{gig['id']}/apply", headers=await bearer_for(client.app, halfway)
    )
    assert await error_of(response) == (403, "FORBIDDEN", "onboarding")
    response = await client.post(f"/v1/gigs/{gig['id']}/apply", headers=owner.headers)
    assert await error_of(response) == (403, "FORBIDDEN", None)
    response = await client.post(
        f"/v1/gigs/{gig['id']}/apply", json={"message": "x" * 1001}, headers=owner.headers
    )
    assert response.status == 400  # the body is checked before anything else
    assert await GigApplication.count() == 0


async def test_an_artist_before_onboarding_step_1_is_sent_to_onboarding(client: Client) -> None:
    owner = await venue(client)
    gig = await post_gig(client, owner)
    newcomer = await make_user(role="artist", onboarding_complete=False)  # no profile yet
    headers = await bearer_for(client.app, newcomer)
    tries = [
        client.post(f"/v1/gigs/{gig['id']}/apply", headers=headers),
        client.post(f"/v1/gigs/{gig['id']}/favorite", headers=headers),
        client.delete(f"/v1/gigs/{gig['id']}/favorite", headers=headers),
        client.get("/v1/favorites", headers=headers),
        client.get("/v1/applications", headers=headers),
    ]
    for attempt in tries:
        assert await error_of(await attempt) == (404, "NOT_FOUND", "onboarding")
    assert await GigApplication.count() == 0


async def test_the_venue_sees_profile_rates_and_portfolio_and_marks_viewed(
    client: Client,
) -> None:
    owner = await venue(client)
    gig = await post_gig(client, owner)
    singer = await artist(client, "Luna Vega", flat_rate=Decimal("300.00"), rates_negotiable=True)
    application = (await (await apply(client, gig["id"], singer)).json())["data"]
    response = await client.get(f"/v1/gigs/{gig['id']}/applications", headers=owner.headers)
    [item] = (await response.json())["data"]["items"]
    assert item["profile"]["stage_name"] == "Luna Vega"
    assert (item["profile"]["flat_rate"], item["profile"]["rates_negotiable"]) == ("300.00", True)
    assert item["tracks"] == []
    assert "email" not in item["profile"]
    assert "phone" not in item["profile"]
    assert item["viewed_at"] is None
    viewed = await decide(client, gig["id"], application["id"], owner, "view")
    first_seen = (await viewed.json())["data"]["viewed_at"]
    assert first_seen is not None
    again = await decide(client, gig["id"], application["id"], owner, "view")
    assert (await again.json())["data"]["viewed_at"] == first_seen  # the first look counts
    # the artist sees when the venue looked
    mine = (await (await client.get("/v1/applications", headers=singer.headers)).json())["data"]
    assert mine["items"][0]["viewed_at"] == first_seen
    # nobody else reads the applications
    other = await venue(client, "Elsewhere")
    response = await client.get(f"/v1/gigs/{gig['id']}/applications", headers=other.headers)
    assert await error_of(response) == (403, "FORBIDDEN", "gig_id")
    response = await client.get(f"/v1/gigs/{gig['id']}/applications", headers=singer.headers)
    assert response.status == 403


async def test_twenty_concurrent_accepts_never_overbook_a_three_slot_gig(client: Client) -> None:
    owner = await venue(client)
    gig = await post_gig(client, owner, capacity=3)
    applications = []
    for number in range(20):
        singer = await artist(client, f"Artist {number}")
        applications.append((await (await apply(client, gig["id"], singer)).json())["data"])
    responses = await asyncio.gather(
        *(decide(client, gig["id"], item["id"], owner, "accept") for item in applications)
    )
    statuses = sorted(response.status for response in responses)
    assert statuses == [200] * 3 + [409] * 17
    for response in responses:
        if response.status == 409:
            body = await response.json()
            # lost the race to a full gig, or declined by the accept that filled it
            assert body["error"]["field"] in ("gig_id", "application_id")
    stored = await Gig.select(Gig.status, Gig.filled_slots).where(Gig.id == gig["id"]).first()
    assert stored == {"status": "filled", "filled_slots": 3}
    counts = {
        row["status"]: row["count"]
        for row in await GigApplication.raw(
            "SELECT status, count(*) FROM gig_applications GROUP BY status"
        )
    }
    assert counts == {"accepted": 3, "rejected": 17}
    declined = await Notification.count().where(Notification.kind == "booking_declined")
    assert declined == 17


async def test_accepting_twice_or_someone_elses_gig_is_refused(client: Client) -> None:
    owner, other = await venue(client), await venue(client, "Elsewhere")
    gig = await post_gig(client, owner, capacity=3)
    singer, second = await artist(client), await artist(client, "Second")
    application = (await (await apply(client, gig["id"], singer)).json())["data"]
    waiting = (await (await apply(client, gig["id"], second)).json())["data"]
    assert (await decide(client, gig["id"], application["id"], other, "accept")).status == 403
    accepted = await decide(client, gig["id"], application["id"], owner, "accept")
    assert accepted.status == 200
    data = (await accepted.json())["data"]
    assert data["application"]["status"] == "accepted"
    assert (data["gig"]["filled_slots"], data["gig"]["status"]) == (1, "open")
    again = await decide(client, gig["id"], application["id"], owner, "accept")
    assert await error_of(again) == (409, "CONFLICT", "application_id")
    reject_booked = await decide(client, gig["id"], application["id"], owner, "reject")
    assert await error_of(reject_booked) == (409, "CONFLICT", "application_id")
    wrong_gig = await decide(client, uuid.uuid4(), waiting["id"], owner, "accept")
    assert await error_of(wrong_gig) == (404, "NOT_FOUND", "gig_id")
    unknown = await decide(client, gig["id"], uuid.uuid4(), owner, "accept")
    assert await error_of(unknown) == (404, "NOT_FOUND", "application_id")
    stored = await Gig.select(Gig.filled_slots).where(Gig.id == gig["id"]).first()
    assert stored == {"filled_slots": 1}
    # D-079 went to both sides, once
    assert len(await notifications_of(singer.user_id, "booking_confirmation")) == 2
    assert len(await notifications_of(owner.user_id, "booking_confirmation")) == 2


async def test_rejecting_tells_the_artist(client: Client) -> None:
    owner = await venue(client)
    gig = await post_gig(client, owner)
    singer = await artist(client)
    application = (await (await apply(client, gig["id"], singer)).json())["data"]
    response = await decide(client, gig["id"], application["id"], owner, "reject")
    assert response.status == 200
    assert (await response.json())["data"]["application"]["status"] == "rejected"
    told = await notifications_of(singer.user_id, "application_rejected")
    assert [row["channel"] for row in told] == ["email"]
    again = await decide(client, gig["id"], application["id"], owner, "reject")
    assert await error_of(again) == (409, "CONFLICT", "application_id")


async def test_an_artist_is_never_booked_twice_at_the_same_time(client: Client) -> None:
    first_venue, second_venue = await venue(client), await venue(client, "Second Room")
    day = in_days(12).isoformat()
    evening = await post_gig(client, first_venue, date=day, start_time="20:00", end_time="22:00")
    clash = await post_gig(client, second_venue, date=day, start_time="21:30", end_time="23:30")
    later = await post_gig(client, second_venue, date=day, start_time="22:00", end_time="23:59")
    all_day = await post_gig(client, second_venue, date=day, start_time=None, end_time=None)
    singer = await artist(client)
    ids = {}
    for gig in (evening, clash, later, all_day):
        ids[gig["id"]] = (await (await apply(client, gig["id"], singer)).json())["data"]["id"]
    assert (
        await decide(client, evening["id"], ids[evening["id"]], first_venue, "accept")
    ).status == 200
    refused = await decide(client, clash["id"], ids[clash["id"]], second_venue, "accept")
    assert await error_of(refused) == (409, "CONFLICT", "artist_id")
    refused = await decide(client, all_day["id"], ids[all_day["id"]], second_venue, "accept")
    assert await error_of(refused) == (409, "CONFLICT", "artist_id")
    # back to back is fine: the first gig ends when the next one starts
    fine = await decide(client, later["id"], ids[later["id"]], second_venue, "accept")
    assert fine.status == 200


async def test_completion_waits_for_the_date_then_updates_the_totals(client: Client) -> None:
    owner = await venue(client)
    gig = await post_gig(client, owner, capacity=2, payment_amount="250.00")
    first, second = await artist(client, "First"), await artist(client, "Second")
    for singer in (first, second):
        application = (await (await apply(client, gig["id"], singer)).json())["data"]
        assert (await decide(client, gig["id"], application["id"], owner, "accept")).status == 200
    early = await client.post(f"/v1/gigs/{gig['id']}/complete", headers=owner.headers)
    assert await error_of(early) == (409, "CONFLICT", "date")
    stranger = await artist(client, "Stranger")
    response = await client.post(f"/v1/gigs/{gig['id']}/complete", headers=stranger.headers)
    assert await error_of(response) == (403, "FORBIDDEN", "gig_id")
    # the night comes
    await Gig.update({Gig.date: in_days(0)}).where(Gig.id == gig["id"])
    response = await client.post(
        f"/v1/gigs/{gig['id']}/complete", json={"earned_amount": "275.50"}, headers=first.headers
    )
    assert response.status == 200, await response.text()
    data = (await response.json())["data"]
    assert (data["gig"]["status"], data["earned_amount"]) == ("completed", "275.50")
    totals = {
        row["stage_name"]: (row["total_gigs"], row["total_earnings"])
        for row in await Artist.select(Artist.stage_name, Artist.total_gigs, Artist.total_earnings)
    }
    # D-080: the artist reported their own pay; the other gets the flat pay until they do
    assert totals["First"] == (1, Decimal("275.50"))
    assert totals["Second"] == (1, Decimal("250.00"))
    # the second artist corrects their pay; the total moves by the difference
    response = await client.post(
        f"/v1/gigs/{gig['id']}/complete", json={"earned_amount": "300"}, headers=second.headers
    )
    assert (await response.json())["data"]["earned_amount"] == "300.00"
    second_row = (
        await Artist.select(Artist.total_gigs, Artist.total_earnings)
        .where(Artist.id == second.artist_id)
        .first()
    )
    assert second_row == {"total_gigs": 1, "total_earnings": Decimal("300.00")}
    # the venue completing again changes nothing; it cannot rewrite the artists' pay
    response = await client.post(f"/v1/gigs/{gig['id']}/complete", headers=owner.headers)
    assert response.status == 200
    response = await client.post(
        f"/v1/gigs/{gig['id']}/complete", json={"earned_amount": "1"}, headers=owner.headers
    )
    assert await error_of(response) == (409, "CONFLICT", "earned_amount")
    first_row = await Artist.select(Artist.total_gigs).where(Artist.id == first.artist_id).first()
    assert first_row == {"total_gigs": 1}  # counted once


async def test_a_gig_nobody_was_booked_for_is_not_completed(client: Client) -> None:
    owner = await venue(client)
    gig = await insert_gig(owner.user_id, date=in_days(-1))
    response = await client.post(f"/v1/gigs/{gig}/complete", headers=owner.headers)
    assert await error_of(response) == (409, "CONFLICT", "gig_id")
    response = await client.post(
        f"/v1/gigs/{gig}/complete", json={"earned_amount": "-3"}, headers=owner.headers
    )
    assert await error_of(response) == (400, "VALIDATION_ERROR", "earned_amount")


async def test_venues_are_reminded_once_of_applications_waiting_two_days(client: Client) -> None:
    owner = await venue(client)
    gig = await post_gig(client, owner, capacity=5)
    fresh_gig = await post_gig(client, owner, capacity=5)
    for number in range(3):
        singer = await artist(client, f"Waiting {number}")
        await apply(client, gig["id"], singer)
    recent = await artist(client, "Recent")
    await apply(client, fresh_gig["id"], recent)
    await GigApplication.update(
        {GigApplication.applied_at: datetime.now(UTC) - timedelta(hours=49)}
    ).where(GigApplication.gig_id == gig["id"])
    settings = client.app[keys.SETTINGS]
    assert await applications.remind_venues(settings=settings) == 1
    reminders = await notifications_of(owner.user_id, "application_reminder")
    assert [row["payload"]["waiting"] for row in reminders] == [3]
    # once
    assert await applications.remind_venues(settings=settings) == 0
    assert len(await notifications_of(owner.user_id, "application_reminder")) == 1
