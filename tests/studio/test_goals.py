"""Goals as an artist sets them, and the daily batch that measures the automatic ones."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from tests.factories import bearer_for, make_user
from tests.studio.helpers import Client, artist_session, data_of, error_of
from umbrella.artists.tables import Artist
from umbrella.portfolio.tables import Track
from umbrella.studio.goals import update_goals_reached
from umbrella.studio.tables import Goal

TODAY = datetime.now(UTC).date()


def goal(**fields: Any) -> dict[str, Any]:
    return {"title": "Play more", "goal_type": "gigs", "target_value": "10"} | fields


async def add_tracks(artist_id: UUID, count: int) -> None:
    now = datetime.now(UTC)
    for number in range(count):
        await Track.insert(
            Track(
                id=uuid.uuid4(),
                artist_id=artist_id,
                title=f"Track {number}",
                created_at=now,
                updated_at=now,
            )
        )


async def test_a_custom_goal_is_counted_by_hand_and_completes_when_reached(
    client: Client,
) -> None:
    _, headers = await artist_session(client)
    body = goal(
        title="Write songs",
        goal_type="custom",
        target_value="12",
        current_value="3",
        description="for the EP",
        target_date=(TODAY + timedelta(days=90)).isoformat(),
    )
    created = await data_of(
        await client.post("/v1/analytics/goals", json=body, headers=headers), 201
    )
    assert (created["goal_type"], created["automatic"], created["completed"]) == (
        "custom",
        False,
        False,
    )
    assert (Decimal(created["target_value"]), Decimal(created["current_value"])) == (
        Decimal(12),
        Decimal(3),
    )
    assert created["progress_percent"] == 25.0
    assert created["target_date"] == body["target_date"]

    path = f"/v1/analytics/goals/{created['id']}"
    done = await data_of(await client.put(path, json={"current_value": "12"}, headers=headers))
    assert (done["completed"], done["progress_percent"]) == (True, 100.0)
    assert done["completed_at"] is not None
    assert done["description"] == "for the EP"  # left out: kept
    # a correction below the target reopens it
    reopened = await data_of(await client.put(path, json={"target_value": "20"}, headers=headers))
    assert (reopened["completed"], reopened["completed_at"]) == (False, None)
    cleared = await data_of(await client.put(path, json={"target_date": None}, headers=headers))
    assert cleared["target_date"] is None

    listed = await data_of(await client.get("/v1/analytics/goals", headers=headers))
    assert [item["id"] for item in listed["items"]] == [created["id"]]
    assert await data_of(await client.delete(path, headers=headers)) == {"deleted": True}
    assert (await error_of(await client.delete(path, headers=headers), 404))["field"] == "goal_id"


async def test_an_automatic_goal_is_measured_at_once(client: Client) -> None:
    _, headers = await artist_session(
        client, total_gigs=4, total_earnings=Decimal("1250.50"), follower_count=80
    )
    gigs = await data_of(
        await client.post("/v1/analytics/goals", json=goal(target_value="10"), headers=headers),
        201,
    )
    assert (Decimal(gigs["current_value"]), gigs["progress_percent"], gigs["automatic"]) == (
        Decimal(4),
        40.0,
        True,
    )
    earnings = await data_of(
        await client.post(
            "/v1/analytics/goals",
            json=goal(goal_type="earnings", target_value="1000.00"),
            headers=headers,
        ),
        201,
    )
    # already past the target: complete from the start
    assert (Decimal(earnings["current_value"]), earnings["completed"]) == (Decimal("1250.50"), True)
    # raising the target measures it again against the new one
    raised = await data_of(
        await client.put(
            f"/v1/analytics/goals/{earnings['id']}", json={"target_value": "5000"}, headers=headers
        )
    )
    assert (raised["completed"], raised["progress_percent"]) == (False, 25.01)


async def test_bad_goals_are_refused_by_field_and_nothing_written(client: Client) -> None:
    _, headers = await artist_session(client)
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    cases = [
        (goal(target_value="-5"), "target_value"),
        (goal(target_value="0"), "target_value"),
        (goal(target_value="10000000000"), "target_value"),
        (goal(target_value="2.5"), "target_value"),  # half a gig
        (goal(target_value="1.234", goal_type="custom"), "target_value"),
        (goal(target_date=yesterday), "target_date"),
        (goal(goal_type="streams"), "goal_type"),
        (goal(current_value="3"), "current_value"),  # measured, not typed in
        (goal(goal_type="custom", current_value="-1"), "current_value"),
        (goal(title="  "), "title"),
        (goal(completed=True), "completed"),
        ({"goal_type": "gigs", "target_value": "3"}, "title"),
    ]
    for body, field in cases:
        response = await client.post("/v1/analytics/goals", json=body, headers=headers)
        error = await error_of(response, 400)
        assert (error["code"], error["field"]) == ("VALIDATION_ERROR", field), body
    assert await Goal.count() == 0

    today = await data_of(
        await client.post(
            "/v1/analytics/goals", json=goal(target_date=TODAY.isoformat()), headers=headers
        ),
        201,
    )
    path = f"/v1/analytics/goals/{today['id']}"
    changes: list[tuple[dict[str, Any], str]] = [
        ({"target_value": "-1"}, "target_value"),
        ({"target_value": None}, "target_value"),
        ({"target_date": yesterday}, "target_date"),
        ({"goal_type": "custom"}, "goal_type"),
        ({"current_value": "4"}, "current_value"),
        ({}, "body"),
    ]
    for change, field in changes:
        response = await client.put(path, json=change, headers=headers)
        assert (await error_of(response, 400))["field"] == field, change
    unchanged = (await data_of(await client.get("/v1/analytics/goals", headers=headers)))["items"]
    assert unchanged == [today]


async def test_goals_are_listed_newest_first_and_filtered_by_completion(client: Client) -> None:
    _, headers = await artist_session(client)
    ids = []
    for number in range(5):
        # every other one starts complete
        body = goal(goal_type="custom", target_value="2", current_value=str(number % 2 * 2))
        created = await data_of(
            await client.post("/v1/analytics/goals", json=body, headers=headers), 201
        )
        ids.append(created["id"])
    seen: list[str] = []
    cursor = ""
    while True:
        page = await data_of(
            await client.get(f"/v1/analytics/goals?limit=2&cursor={cursor}", headers=headers)
        )
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert seen == ids[::-1]
    done = await data_of(await client.get("/v1/analytics/goals?completed=true", headers=headers))
    assert [item["id"] for item in done["items"]] == [ids[3], ids[1]]
    open_ = await data_of(await client.get("/v1/analytics/goals?completed=false", headers=headers))
    assert [item["id"] for item in open_["items"]] == [ids[4], ids[2], ids[0]]


async def test_another_artists_goal_is_not_found_and_venues_are_refused(client: Client) -> None:
    _, headers = await artist_session(client)
    _, other_headers = await artist_session(client, "Other")
    created = await data_of(
        await client.post("/v1/analytics/goals", json=goal(), headers=headers), 201
    )
    path = f"/v1/analytics/goals/{created['id']}"
    for response in (
        await client.put(path, json={"title": "mine"}, headers=other_headers),
        await client.delete(path, headers=other_headers),
    ):
        assert (await error_of(response, 404))["field"] == "goal_id"
    others = await data_of(await client.get("/v1/analytics/goals", headers=other_headers))
    assert others["items"] == []
    venue = await bearer_for(client.app, await make_user(role="venue"))
    for response in (
        await client.get("/v1/analytics/goals", headers=venue),
        await client.post("/v1/analytics/goals", json=goal(), headers=venue),
    ):
        await error_of(response, 403)


async def _goals() -> dict[UUID, dict[str, Any]]:
    return {row["id"]: row for row in await Goal.select()}


async def test_the_daily_batch_measures_every_artists_goals_in_one_go(client: Client) -> None:
    a_id, a = await artist_session(client, "A", total_gigs=1, follower_count=10)
    b_id, b = await artist_session(client, "B", total_earnings=Decimal("100"))
    _, c = await artist_session(client, "C")

    async def create(headers: dict[str, str], **fields: Any) -> UUID:
        response = await client.post("/v1/analytics/goals", json=goal(**fields), headers=headers)
        return UUID((await data_of(response, 201))["id"])

    a_gigs = await create(a, target_value="3")
    a_followers = await create(a, goal_type="followers", target_value="50")
    a_tracks = await create(a, goal_type="tracks", target_value="2")
    b_earnings = await create(b, goal_type="earnings", target_value="500")
    b_custom = await create(b, goal_type="custom", target_value="5", current_value="1")
    c_gigs = await create(c, target_value="1")

    # a day of activity
    await Artist.update({Artist.total_gigs: 3, Artist.follower_count: 40}).where(Artist.id == a_id)
    await add_tracks(a_id, 2)
    await Artist.update({Artist.total_earnings: Decimal("650.25")}).where(Artist.id == b_id)

    day = TODAY - timedelta(days=1)
    assert await update_goals_reached(on=day) == 3
    goals = await _goals()
    assert {key: goals[key]["current_value"] for key in goals} == {
        a_gigs: 3,
        a_followers: 40,
        a_tracks: 2,
        b_earnings: Decimal("650.25"),
        b_custom: 1,  # the artist's own count: untouched
        c_gigs: 0,
    }
    assert {key for key in goals if goals[key]["completed"]} == {a_gigs, a_tracks, b_earnings}
    # completed at the end of the day measured (midnight UTC after it), or at creation
    end_of_day = datetime.combine(TODAY, time(0), tzinfo=UTC)
    for key in (a_gigs, a_tracks, b_earnings):
        assert goals[key]["completed_at"] == max(end_of_day, goals[key]["created_at"])

    # idempotent: a re-run completes nothing and rewrites no row
    assert await update_goals_reached(on=day) == 0
    assert await _goals() == goals

    # completion stays when a total drops; progress follows it
    await Artist.update({Artist.total_gigs: 2, Artist.follower_count: 55}).where(Artist.id == a_id)
    assert await update_goals_reached(on=TODAY) == 1
    later = await _goals()
    assert (later[a_gigs]["completed"], later[a_gigs]["current_value"]) == (True, 2)
    assert later[a_gigs]["completed_at"] == goals[a_gigs]["completed_at"]
    assert later[a_followers]["completed"] is True
    shown = await data_of(await client.get("/v1/analytics/goals?completed=true", headers=a))
    assert {item["id"] for item in shown["items"]} == {str(a_gigs), str(a_followers), str(a_tracks)}


async def test_the_batch_with_no_goals_does_nothing(client: Client) -> None:
    assert await update_goals_reached(on=date(2026, 1, 1)) == 0
