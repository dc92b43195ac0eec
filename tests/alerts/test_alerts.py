"""Gig alerts over HTTP: an artist saves browse filters (at most 10), lists, changes, deletes."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.gigs.marketplace import Client, Person, artist, error_of, in_days, venue

AUSTIN_INDIE = {
    "name": "Austin indie",
    "filters": {"genres": ["indie", "folk"], "city": "Austin", "payment_min": "150"},
    "text_urgent": True,
}


async def create(client: Client, who: Person, body: dict[str, Any] | None = None) -> Any:
    return await client.post("/v1/alerts", json=body or AUSTIN_INDIE, headers=who.headers)


async def test_an_artist_saves_browse_filters_as_an_alert(client: Client) -> None:
    luna = await artist(client)
    response = await create(client, luna)
    assert response.status == 201, await response.text()
    alert = (await response.json())["data"]
    assert alert["name"] == "Austin indie"
    # Money always with two decimals; left-out filters are not echoed as nulls.
    assert alert["filters"]["payment_min"] == "150.00"
    assert alert["filters"]["genres"] == ["indie", "folk"]
    assert alert["filters"]["city"] == "Austin"
    assert alert["text_urgent"] is True
    assert alert["active"] is True

    fetched = await client.get(f"/v1/alerts/{alert['id']}", headers=luna.headers)
    assert (await fetched.json())["data"] == alert

    # Every filter at once, then an alert with no filter (every new gig).
    every = {
        "name": "Everything in Texas, soon",
        "filters": {
            "genres": ["jazz"],
            "city": "Houston",
            "state": "TX",
            "date_from": in_days(1).isoformat(),
            "date_to": in_days(30).isoformat(),
            "payment_min": "100.5",
            "payment_max": "900",
            "urgent": True,
        },
    }
    response = await create(client, luna, every)
    assert response.status == 201, await response.text()
    saved = (await response.json())["data"]
    assert saved["filters"]["payment_min"] == "100.50"
    assert saved["filters"]["payment_max"] == "900.00"
    assert saved["filters"]["urgent"] is True
    assert saved["text_urgent"] is False
    response = await create(client, luna, {"name": "Anything"})
    assert response.status == 201
    assert (await response.json())["data"]["filters"]["genres"] == []


async def test_alerts_are_listed_newest_first_page_by_page(client: Client) -> None:
    luna = await artist(client)
    for number in range(5):
        assert (await create(client, luna, {"name": f"Alert {number}"})).status == 201
    other = await artist(client, "Other")
    await create(client, other, {"name": "Not yours"})

    names: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/alerts", params=params, headers=luna.headers)
        assert response.status == 200, await response.text()
        page = (await response.json())["data"]
        names += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names == [f"Alert {number}" for number in reversed(range(5))]
    bad = await client.get("/v1/alerts", params={"cursor": "forged"}, headers=luna.headers)
    assert await error_of(bad) == (400, "VALIDATION_ERROR", "cursor")


async def test_at_most_ten_alerts_even_when_created_at_once(client: Client) -> None:
    luna = await artist(client)
    answers = await asyncio.gather(
        *(create(client, luna, {"name": f"Alert {number}"}) for number in range(14))
    )
    statuses = sorted(response.status for response in answers)
    assert statuses == [201] * 10 + [409] * 4
    refused = next(response for response in answers if response.status == 409)
    body = (await refused.json())["error"]
    assert body["code"] == "CONFLICT"
    assert body["field"] == "alerts"
    assert "10 alerts" in body["message"]
    # Deleting one makes room for another.
    listed = await client.get("/v1/alerts", params={"limit": "100"}, headers=luna.headers)
    items = (await listed.json())["data"]["items"]
    assert len(items) == 10
    gone = await client.delete(f"/v1/alerts/{items[0]['id']}", headers=luna.headers)
    assert (await gone.json())["data"] == {"id": items[0]["id"], "deleted": True}
    assert (await create(client, luna, {"name": "Room again"})).status == 201


async def test_bad_filters_are_refused_with_their_field(client: Client) -> None:
    luna = await artist(client)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "Typo", "filters": {"genre": ["indie"]}}, "filters.genre"),
        ({"name": "Bad genre", "filters": {"genres": ["polka-ish"]}}, "filters.genres.0"),
        (
            {
                "name": "Backwards",
                "filters": {
                    "date_from": in_days(10).isoformat(),
                    "date_to": in_days(5).isoformat(),
                },
            },
            "filters.date_to",
        ),
        (
            {"name": "Upside down", "filters": {"payment_min": "500", "payment_max": "100"}},
            "filters.payment_max",
        ),
        ({"name": "Over", "filters": {"date_to": in_days(-1).isoformat()}}, "filters.date_to"),
        ({"name": "Cents", "filters": {"payment_min": "10.001"}}, "filters.payment_min"),
        ({"name": "Negative", "filters": {"payment_min": "-1"}}, "filters.payment_min"),
    ]
    for body, field in cases:
        response = await create(client, luna, body)
        status, code, got = await error_of(response)
        assert (status, code) == (400, "VALIDATION_ERROR"), (body, await response.text())
        assert got == field, body
    listed = await client.get("/v1/alerts", headers=luna.headers)
    assert (await listed.json())["data"]["items"] == []


async def test_an_alert_is_changed_field_by_field(client: Client) -> None:
    luna = await artist(client)
    alert = (await (await create(client, luna)).json())["data"]
    path = f"/v1/alerts/{alert['id']}"

    renamed = await client.put(path, json={"name": "Austin, any genre"}, headers=luna.headers)
    assert renamed.status == 200, await renamed.text()
    data = (await renamed.json())["data"]
    assert data["name"] == "Austin, any genre"
    assert data["filters"] == alert["filters"]  # untouched

    refiltered = await client.put(
        path, json={"filters": {"city": "Dallas"}, "text_urgent": False}, headers=luna.headers
    )
    data = (await refiltered.json())["data"]
    assert data["filters"]["city"] == "Dallas"
    assert data["filters"]["genres"] == []  # filters are replaced as a whole
    assert "payment_min" not in data["filters"] or data["filters"]["payment_min"] is None
    assert data["text_urgent"] is False

    off = await client.put(path, json={"active": False}, headers=luna.headers)
    assert (await off.json())["data"]["active"] is False
    for body, field in (
        ({"name": None}, "name"),
        ({"filters": None}, "filters"),
        ({"filters": {"payment_min": "9", "payment_max": "1"}}, "filters.payment_max"),
        ({"colour": "red"}, "colour"),
    ):
        response = await client.put(path, json=body, headers=luna.headers)
        assert await error_of(response) == (400, "VALIDATION_ERROR", field), body


async def test_alerts_are_the_artists_own(client: Client) -> None:
    luna = await artist(client)
    alert = (await (await create(client, luna)).json())["data"]
    path = f"/v1/alerts/{alert['id']}"
    stranger = await artist(client, "Stranger")
    for method, body in (("GET", None), ("PUT", {"name": "Mine now"}), ("DELETE", None)):
        response = await client.request(method, path, json=body, headers=stranger.headers)
        assert await error_of(response) == (404, "NOT_FOUND", "alert_id"), method
    missing = await client.get(f"/v1/alerts/{uuid.uuid4()}", headers=luna.headers)
    assert await error_of(missing) == (404, "NOT_FOUND", "alert_id")

    owner = await venue(client)
    assert (await create(client, owner)).status == 403
    assert (await client.get("/v1/alerts", headers=owner.headers)).status == 403
    assert (await client.get("/v1/alerts")).status == 401
    # Still there, unchanged.
    fetched = await client.get(path, headers=luna.headers)
    assert (await fetched.json())["data"]["name"] == "Austin indie"
