"""The career timeline: add, edit, remove your own entries; anyone reads it newest first."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import UUID

import pytest

from tests.artists.conftest import Client, data_of, error_of, new_artist, new_user
from tests.factories import make_artist, make_user
from umbrella.artists.tables import TimelineEntry

ENTRY = {
    "entry_type": "release",
    "occurred_on": "2025-06-13",
    "title": "Debut EP: Night Swim",
    "description": "Five songs recorded in a week.",
}


async def entries_of(artist_id: UUID) -> list[dict[str, Any]]:
    return await TimelineEntry.select().where(TimelineEntry.artist_id == artist_id)


async def test_an_artist_adds_edits_and_removes_entries(client: Client) -> None:
    artist = await new_artist(client)
    created = await data_of(
        await client.post("/v1/profile/timeline", json=ENTRY, headers=artist.headers), 201
    )
    assert {k: created[k] for k in ENTRY} == ENTRY
    entry_url = f"/v1/profile/timeline/{created['id']}"

    edited = await data_of(
        await client.put(
            entry_url, json={"title": "Night Swim EP", "description": None}, headers=artist.headers
        )
    )
    assert (edited["title"], edited["description"]) == ("Night Swim EP", None)
    assert edited["entry_type"] == "release"  # not sent, unchanged

    listed = await data_of(await client.get(f"/v1/profile/{artist.artist_id}/timeline"))
    assert [item["id"] for item in listed["items"]] == [created["id"]]
    assert listed["next_cursor"] is None

    deleted = await data_of(await client.delete(entry_url, headers=artist.headers))
    assert deleted == {"id": created["id"], "deleted": True}
    assert await entries_of(artist.artist_id) == []
    assert (await client.delete(entry_url, headers=artist.headers)).status == 404


async def test_another_artists_entry_is_not_found(client: Client) -> None:
    owner = await new_artist(client)
    intruder = await new_artist(client, stage_name="Intruder")
    created = await data_of(
        await client.post("/v1/profile/timeline", json=ENTRY, headers=owner.headers), 201
    )
    entry_url = f"/v1/profile/timeline/{created['id']}"
    before = await entries_of(owner.artist_id)

    edit = await client.put(entry_url, json={"title": "Mine now"}, headers=intruder.headers)
    remove = await client.delete(entry_url, headers=intruder.headers)

    assert (edit.status, remove.status) == (404, 404)
    assert (await error_of(edit))["code"] == "NOT_FOUND"
    assert await entries_of(owner.artist_id) == before
    venue = await new_user(client, role="venue", onboarding_complete=True)
    assert (
        await client.post("/v1/profile/timeline", json=ENTRY, headers=venue.headers)
    ).status == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({**ENTRY, "entry_type": "award"}, "entry_type", id="unknown type"),
        pytest.param({**ENTRY, "title": "t" * 201}, "title", id="201-char title"),
        pytest.param({**ENTRY, "title": "  "}, "title", id="blank title"),
        pytest.param({**ENTRY, "description": "d" * 2001}, "description", id="long description"),
        pytest.param({**ENTRY, "occurred_on": "13/06/2025"}, "occurred_on", id="not a date"),
        pytest.param({**ENTRY, "occurred_on": "1850-01-01"}, "occurred_on", id="too long ago"),
        pytest.param({**ENTRY, "artist_id": str(UUID(int=1))}, "artist_id", id="extra field"),
    ],
)
async def test_invalid_entries_are_refused_and_nothing_is_written(
    client: Client, body: dict[str, Any], field: str
) -> None:
    artist = await new_artist(client)
    response = await client.post("/v1/profile/timeline", json=body, headers=artist.headers)
    assert response.status == 400
    assert (await error_of(response))["field"] == field
    assert await entries_of(artist.artist_id) == []


async def test_an_edit_cannot_clear_required_fields(client: Client) -> None:
    artist = await new_artist(client)
    created = await data_of(
        await client.post("/v1/profile/timeline", json=ENTRY, headers=artist.headers), 201
    )
    url = f"/v1/profile/timeline/{created['id']}"
    for body, field in (({"title": None}, "title"), ({}, "body")):
        response = await client.put(url, json=body, headers=artist.headers)
        assert response.status == 400
        assert (await error_of(response))["field"] == field
    assert (await entries_of(artist.artist_id))[0]["title"] == ENTRY["title"]


async def test_the_timeline_reads_newest_first_a_page_at_a_time(client: Client) -> None:
    artist = await new_artist(client)
    start = date(2024, 1, 1)
    # 25 entries over 10 days: several share a date, so the id breaks ties.
    for number in range(25):
        body = {
            "entry_type": ("gig", "release", "milestone", "other")[number % 4],
            "occurred_on": (start + timedelta(days=number % 10)).isoformat(),
            "title": f"Entry {number}",
        }
        response = await client.post("/v1/profile/timeline", json=body, headers=artist.headers)
        assert response.status == 201

    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    for _ in range(10):  # a cursor that never ends fails the test instead of hanging it
        params: dict[str, Any] = {"limit": 10} | ({"cursor": cursor} if cursor else {})
        page = await data_of(
            await client.get(f"/v1/profile/{artist.artist_id}/timeline", params=params)
        )
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert len({item["id"] for item in seen}) == 25
    order = [(item["occurred_on"], item["id"]) for item in seen]
    assert order == sorted(order, reverse=True)


async def test_timeline_listing_of_unknown_or_unfinished_artists(client: Client) -> None:
    unknown = await client.get(f"/v1/profile/{UUID(int=7)}/timeline")
    assert unknown.status == 404
    user_id = await make_user(onboarding_complete=False)
    _, artist_id = await make_artist(user_id=user_id)
    assert (await client.get(f"/v1/profile/{artist_id}/timeline")).status == 404
    artist = await new_artist(client)
    bad = await client.get(f"/v1/profile/{artist.artist_id}/timeline", params={"cursor": "x.y"})
    assert bad.status == 400
    assert (await error_of(bad))["field"] == "cursor"
    too_many = await client.get(f"/v1/profile/{artist.artist_id}/timeline", params={"limit": 101})
    assert (await error_of(too_many))["field"] == "limit"
