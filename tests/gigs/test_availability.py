"""Availability: no application, booking or browse result on a day the artist cannot play."""

from __future__ import annotations

from datetime import time
from typing import Any

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
from umbrella.gigs.tables import Gig, GigApplication


async def mark_unavailable(
    client: Client, who: Person, start: int, end: int | None = None
) -> dict[str, Any]:
    body = {"start_date": in_days(start).isoformat()}
    if end is not None:
        body["end_date"] = in_days(end).isoformat()
    response = await client.post("/v1/profile/unavailability", json=body, headers=who.headers)
    assert response.status == 201, await response.text()
    data: dict[str, Any] = (await response.json())["data"]
    return data


async def book(client: Client, owner: Person, gig_id: Any, who: Person) -> None:
    applied = await apply(client, gig_id, who)
    assert applied.status == 201, await applied.text()
    application_id = (await applied.json())["data"]["id"]
    accepted = await decide(client, gig_id, application_id, owner, "accept")
    assert accepted.status == 200, await accepted.text()


async def browse(client: Client, who: Person, **params: str) -> list[str]:
    response = await client.get("/v1/gigs", params={"limit": "100", **params}, headers=who.headers)
    assert response.status == 200, await response.text()
    page = (await response.json())["data"]
    assert page["next_cursor"] is None
    return sorted(item["title"] for item in page["items"])


async def test_applying_on_an_unavailable_day_is_refused_saying_so(client: Client) -> None:
    owner = await venue(client)
    gig = await post_gig(client, owner, date=in_days(12).isoformat())
    singer = await artist(client)
    await mark_unavailable(client, singer, 10, 14)

    response = await apply(client, gig["id"], singer)
    status, code, field = await error_of(response)
    assert (status, code, field) == (409, "CONFLICT", "date")
    message = (await response.json())["error"]["message"]
    assert "marked" in message
    assert "unavailable" in message
    assert f"{in_days(10):%B} {in_days(10).day}" in message
    # Nothing was made and nobody was told.
    assert await GigApplication.count().where(GigApplication.gig_id == gig["id"]) == 0
    assert await notifications_of(owner.user_id) == []

    # The day after the range is fine.
    later = await post_gig(client, owner, title="Sunday", date=in_days(15).isoformat())
    assert (await apply(client, later["id"], singer)).status == 201


async def test_applying_at_a_time_already_booked_is_refused(client: Client) -> None:
    owner = await venue(client)
    other_venue = await venue(client, "The Mohawk")
    singer = await artist(client)
    booked = await post_gig(client, owner, title="Booked", capacity=1)  # day 10, 21:00-23:30
    await book(client, owner, booked["id"], singer)

    clash = await post_gig(client, other_venue, title="Clash", start_time="22:00", end_time="23:59")
    response = await apply(client, clash["id"], singer)
    assert await error_of(response) == (409, "CONFLICT", "date")
    message = (await response.json())["error"]["message"]
    assert "already booked for Booked" in message

    # The same day, before the booked set: no overlap, so the artist may apply.
    matinee = await post_gig(
        client, other_venue, title="Matinee", start_time="14:00", end_time="16:00"
    )
    assert (await apply(client, matinee["id"], singer)).status == 201
    # A gig with no times takes the whole day, so it clashes with the booking.
    all_day = await post_gig(client, other_venue, title="All day", start_time=None, end_time=None)
    assert await error_of(await apply(client, all_day["id"], singer)) == (409, "CONFLICT", "date")


async def test_accepting_an_artist_who_marked_the_day_since_is_refused(client: Client) -> None:
    owner = await venue(client)
    gig = await post_gig(client, owner, capacity=1)
    singer = await artist(client)
    applied = await apply(client, gig["id"], singer)
    assert applied.status == 201
    application_id = (await applied.json())["data"]["id"]
    entry = await mark_unavailable(client, singer, 10)

    response = await decide(client, gig["id"], application_id, owner, "accept")
    assert await error_of(response) == (409, "CONFLICT", "date")
    assert "This artist marked" in (await response.json())["error"]["message"]
    # Nothing changed: still waiting, the slot still free, nobody booked or told.
    row = await GigApplication.select(GigApplication.status).where(
        GigApplication.id == application_id
    )
    assert row == [{"status": "pending"}]
    gig_row = await Gig.select(Gig.status, Gig.filled_slots).where(Gig.id == gig["id"])
    assert gig_row == [{"status": "open", "filled_slots": 0}]
    assert await notifications_of(singer.user_id, "booking_confirmation") == []

    # Once the artist frees the day again, the venue can book them.
    removed = await client.delete(
        f"/v1/profile/unavailability/{entry['id']}", headers=singer.headers
    )
    assert removed.status == 200
    accepted = await decide(client, gig["id"], application_id, owner, "accept")
    assert accepted.status == 200, await accepted.text()


async def test_browse_available_hides_unavailable_and_booked_days(client: Client) -> None:
    owner = await venue(client)
    singer = await artist(client)
    await post_gig(client, owner, title="Booked", capacity=1)  # day 10, 21:00-23:30, filled below
    booked_id = (await Gig.select(Gig.id).where(Gig.title == "Booked"))[0]["id"]
    await book(client, owner, booked_id, singer)
    await post_gig(client, owner, title="Same time", start_time="21:30", end_time="23:00")
    await post_gig(client, owner, title="Earlier that day", start_time="12:00", end_time="14:00")
    await post_gig(client, owner, title="On holiday", date=in_days(20).isoformat())
    await post_gig(client, owner, title="Holiday's last day", date=in_days(22).isoformat())
    await post_gig(client, owner, title="Back home", date=in_days(23).isoformat())
    # A row older than the time rule, ending past midnight: the page still comes.
    await insert_gig(
        owner.user_id,
        title="Late late show",
        date=in_days(30),
        start_time=time(22),
        end_time=time(1, 30),
    )
    await mark_unavailable(client, singer, 20, 22)

    everything = await browse(client, singer)
    assert everything == sorted(
        [
            "Same time",
            "Earlier that day",
            "On holiday",
            "Holiday's last day",
            "Back home",
            "Late late show",
        ]
    )
    free = await browse(client, singer, available="true")
    # Browse hides whole days: the day of a booking goes, even at another time of it.
    assert free == sorted(["Back home", "Late late show"])
    # With the city filter the statement takes the city index arm: the same answer.
    assert await browse(client, singer, available="true", city="austin") == free
    # Another artist is free on all of those days.
    other = await artist(client, "Echo")
    assert await browse(client, other, available="true") == everything


async def test_browse_available_is_for_artists_and_its_cursor_for_its_scroll(
    client: Client,
) -> None:
    owner = await venue(client)
    for n in range(3):
        await post_gig(client, owner, title=f"Night {n}")
    response = await client.get("/v1/gigs", params={"available": "true"}, headers=owner.headers)
    assert await error_of(response) == (400, "VALIDATION_ERROR", "available")
    # A venue browsing without it is unchanged.
    assert (await client.get("/v1/gigs", headers=owner.headers)).status == 200

    singer = await artist(client)
    first = await client.get("/v1/gigs", params={"limit": "1"}, headers=singer.headers)
    cursor = (await first.json())["data"]["next_cursor"]
    assert cursor is not None
    # A cursor carries its filters: the scroll without `available` does not go on with it.
    mixed = await client.get(
        "/v1/gigs",
        params={"limit": "1", "cursor": cursor, "available": "true"},
        headers=singer.headers,
    )
    assert await error_of(mixed) == (400, "VALIDATION_ERROR", "cursor")
    # Without it, the scroll goes on as before.
    same = await client.get(
        "/v1/gigs", params={"limit": "1", "cursor": cursor}, headers=singer.headers
    )
    assert same.status == 200


async def test_the_calendar_feed_keeps_the_booked_gigs(client: Client) -> None:
    owner = await venue(client)
    singer = await artist(client)
    gig = await post_gig(client, owner, title="Booked", capacity=1)
    await book(client, owner, gig["id"], singer)
    # Marking the booked day unavailable afterwards does not unbook it or hide it.
    await mark_unavailable(client, singer, 10)
    made = await client.post("/v1/calendar/token", headers=singer.headers)
    assert made.status == 200
    url = (await made.json())["data"]["url"]
    feed = await client.get("/v1/calendar.ics?" + url.split("?", 1)[1])
    assert feed.status == 200
    text = await feed.text()
    assert f"UID:{gig['id']}@umbrella" in text
    assert "SUMMARY:Booked at The Anchor" in text
