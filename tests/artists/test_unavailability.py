"""Unavailable dates: an artist marks days and ranges, lists them soonest first, removes them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.artists.conftest import Client, data_of, error_of, new_artist, new_user
from umbrella.artists import availability

URL = "/v1/profile/unavailability"


def in_days(days: int) -> date:
    return datetime.now(UTC).date() + timedelta(days=days)


async def mark(client: Client, headers: dict[str, str], **body: Any) -> Any:
    return await client.post(URL, json=body, headers=headers)


async def test_an_artist_marks_lists_and_removes_unavailable_dates(client: Client) -> None:
    artist = await new_artist(client)
    tour = await data_of(
        await mark(
            client,
            artist.headers,
            start_date=in_days(20).isoformat(),
            end_date=in_days(24).isoformat(),
            note="  Tour in Europe  ",
        ),
        201,
    )
    assert (tour["start_date"], tour["end_date"], tour["note"]) == (
        in_days(20).isoformat(),
        in_days(24).isoformat(),
        "Tour in Europe",
    )
    # One day: the end is the start.
    wedding = await data_of(
        await mark(client, artist.headers, start_date=in_days(3).isoformat()), 201
    )
    assert wedding["end_date"] == wedding["start_date"] == in_days(3).isoformat()
    assert wedding["note"] is None

    listed = await data_of(await client.get(URL, headers=artist.headers))
    assert [item["id"] for item in listed["items"]] == [wedding["id"], tour["id"]]
    assert listed["next_cursor"] is None

    # The domain question later flows ask: the tour's middle day is covered, the day after not.
    covering = await availability.unavailable_on(artist_id=artist.artist_id, day=in_days(22))
    assert covering is not None
    assert str(covering.id) == tour["id"]
    assert await availability.unavailable_on(artist_id=artist.artist_id, day=in_days(25)) is None

    deleted = await data_of(await client.delete(f"{URL}/{tour['id']}", headers=artist.headers))
    assert deleted == {"id": tour["id"], "deleted": True}
    listed = await data_of(await client.get(URL, headers=artist.headers))
    assert [item["id"] for item in listed["items"]] == [wedding["id"]]
    missing = await client.delete(f"{URL}/{tour['id']}", headers=artist.headers)
    assert missing.status == 404
    assert (await error_of(missing))["field"] == "entry_id"


async def test_the_list_is_paged_soonest_first(client: Client) -> None:
    artist = await new_artist(client)
    made = [
        (await data_of(await mark(client, artist.headers, start_date=in_days(d).isoformat()), 201))
        for d in (9, 2, 5, 7, 3)
    ]
    expected = [entry["id"] for entry in sorted(made, key=lambda entry: entry["start_date"])]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = await data_of(await client.get(URL, params=params, headers=artist.headers))
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected


async def test_bad_dates_are_refused_with_the_field_they_concern(client: Client) -> None:
    artist = await new_artist(client)
    cases = [
        ({"start_date": in_days(-1).isoformat()}, 400, "start_date"),
        (
            {"start_date": in_days(5).isoformat(), "end_date": in_days(4).isoformat()},
            400,
            "end_date",
        ),
        (
            {"start_date": in_days(5).isoformat(), "end_date": in_days(800).isoformat()},
            400,
            "end_date",
        ),
        ({"start_date": in_days(800).isoformat()}, 400, "start_date"),
        ({"start_date": "next friday"}, 400, "start_date"),
        ({"start_date": in_days(5).isoformat(), "note": "x" * 201}, 400, "note"),
        ({"start_date": in_days(5).isoformat(), "colour": "red"}, 400, "colour"),
    ]
    for body, status, field in cases:
        response = await mark(client, artist.headers, **body)
        assert response.status == status, (body, await response.text())
        error = await error_of(response)
        assert (error["code"], error["field"]) == ("VALIDATION_ERROR", field), body

    # Two years ahead is still fine.
    assert (await mark(client, artist.headers, start_date=in_days(730).isoformat())).status == 201
    assert (await data_of(await client.get(URL, headers=artist.headers)))["items"] != []


async def test_an_overlapping_range_is_refused_saying_which(client: Client) -> None:
    artist = await new_artist(client)
    first = await mark(
        client, artist.headers, start_date=in_days(10).isoformat(), end_date=in_days(12).isoformat()
    )
    assert first.status == 201
    for start, end in ((12, 15), (8, 10), (11, 11), (5, 20)):
        response = await mark(
            client,
            artist.headers,
            start_date=in_days(start).isoformat(),
            end_date=in_days(end).isoformat(),
        )
        assert response.status == 409
        error = await error_of(response)
        assert (error["code"], error["field"]) == ("CONFLICT", "start_date")
        assert availability.span_text(in_days(10), in_days(12)) in error["message"]
    # Next to it is fine.
    assert (await mark(client, artist.headers, start_date=in_days(13).isoformat())).status == 201


async def test_at_most_so_many_upcoming_entries(client: Client, monkeypatch: Any) -> None:
    monkeypatch.setattr(availability, "MAX_UPCOMING", 3)
    artist = await new_artist(client)
    for day in (1, 2, 3):
        assert (
            await mark(client, artist.headers, start_date=in_days(day).isoformat())
        ).status == 201
    response = await mark(client, artist.headers, start_date=in_days(4).isoformat())
    assert response.status == 409
    error = await error_of(response)
    assert error["field"] == "start_date"
    assert "at most 3" in error["message"]


async def test_only_the_artist_reads_and_changes_their_dates(client: Client) -> None:
    owner = await new_artist(client)
    other = await new_artist(client, stage_name="Other")
    entry = await data_of(await mark(client, owner.headers, start_date=in_days(6).isoformat()), 201)
    # Another artist sees none of them and cannot remove them.
    assert (await data_of(await client.get(URL, headers=other.headers)))["items"] == []
    assert (await client.delete(f"{URL}/{entry['id']}", headers=other.headers)).status == 404
    assert len((await data_of(await client.get(URL, headers=owner.headers)))["items"]) == 1
    # A venue is refused; nobody signed in is asked to sign in.
    venue = await new_user(client, role="venue", onboarding_complete=True)
    assert (await client.get(URL, headers=venue.headers)).status == 403
    assert (await mark(client, venue.headers, start_date=in_days(6).isoformat())).status == 403
    assert (await client.get(URL)).status == 401
