"""The calendar feed as artists and venues use it: subscribe, rotate, revoke, read the gigs."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from tests.calendar.ics_reader import events, unescape
from tests.factories import bearer_for, make_artist, make_user
from umbrella import keys
from umbrella.accounts.service import hash_token
from umbrella.accounts.tables import User

Client = TestClient[web.Request, web.Application]
NOW = datetime.now(UTC)
TODAY = date.today()


async def sql(query: str, *args: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await User.raw(query, *args)
    return rows


async def insert(table: str, **values: Any) -> None:
    columns = ", ".join(values)
    placeholders = ", ".join("{}" for _ in values)
    await sql(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", *values.values())


async def add_gig(venue_id: UUID, *, days: int = 10, status: str = "open", **fields: Any) -> UUID:
    gig_id = uuid.uuid4()
    values: dict[str, Any] = {
        "id": gig_id,
        "venue_id": venue_id,
        "title": "Friday night",
        "venue_name": "The Anchor",
        "city": "Austin",
        "state": "TX",
        "date": TODAY + timedelta(days=days),
        "payment_amount": Decimal("250.00"),
        "capacity": 5,
        "status": status,
        "completed_at": NOW if status == "completed" else None,
        "cancelled_at": NOW if status == "cancelled" else None,
    }
    if status == "filled":
        values.update(capacity=1, filled_slots=1)
    values.update(fields)
    await insert("gigs", **values)
    return gig_id


async def apply(gig_id: UUID, artist_id: UUID, status: str = "accepted") -> None:
    await insert(
        "gig_applications",
        gig_id=gig_id,
        artist_id=artist_id,
        status=status,
        responded_at=None if status == "pending" else NOW,
    )


async def new_link(client: Client, headers: dict[str, str]) -> str:
    """Make (or remake) the feed link; answers its path, ready for the test client."""
    response = await client.post("/v1/calendar/token", headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    data = (await response.json())["data"]
    base = client.app[keys.SETTINGS].public_base_url
    url: str = data["url"]
    assert url.startswith(f"{base}/v1/calendar.ics?token=")
    assert data["webcal_url"] == "webcal://" + url.split("://", 1)[1]
    return url.removeprefix(base)


def token_of(path: str) -> str:
    return path.split("token=", 1)[1]


async def feed(client: Client, path: str) -> list[dict[str, str]]:
    response = await client.get(path)
    text = await response.text()
    assert response.status == 200, text
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'inline; filename="umbrella.ics"'
    assert response.headers["Cache-Control"] == "private, max-age=300"
    return events(text)


async def not_found(response: aiohttp.ClientResponse) -> None:
    assert response.status == 404
    body = await response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "NOT_FOUND"


async def status_of(client: Client, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get("/v1/calendar", headers=headers)
    assert response.status == 200
    data: dict[str, Any] = (await response.json())["data"]
    return data


async def test_an_artist_feed_holds_their_accepted_gigs_only(client: Client) -> None:
    user_id, artist_id = await make_artist()
    _, other_artist = await make_artist(stage_name="Echo")
    venue = await make_user(role="venue")
    me = await bearer_for(client.app, user_id)

    booked = await add_gig(
        venue,
        title="Late set",
        start_time=time(21),
        end_time=time(1, 30),
        address="12 Main St",
        zip="78701",
    )
    full = await add_gig(venue, status="filled", days=20)
    played = await add_gig(venue, status="completed", days=-30)
    called_off = await add_gig(venue, status="cancelled", days=5)
    await add_gig(venue, days=-91, status="completed")  # too long ago
    for gig in (booked, full, played, called_off):
        await apply(gig, artist_id)
    old = await add_gig(venue, days=-91, status="completed")
    await apply(old, artist_id)
    pending, rejected, others = [await add_gig(venue) for _ in range(3)]
    await apply(pending, artist_id, "pending")
    await apply(rejected, artist_id, "rejected")
    await apply(others, other_artist)

    found = {event["UID"]: event for event in await feed(client, await new_link(client, me))}

    assert list(found) == [f"{gig}@umbrella" for gig in (played, called_off, booked, full)]
    late = found[f"{booked}@umbrella"]
    day = TODAY + timedelta(days=10)
    assert late["DTSTART"] == f"{day:%Y%m%d}T210000"
    assert late["DTEND"] == f"{day + timedelta(days=1):%Y%m%d}T013000"  # after midnight
    assert late["STATUS"] == "CONFIRMED"
    assert unescape(late["SUMMARY"]) == "Late set at The Anchor"
    assert unescape(late["LOCATION"]) == "The Anchor, 12 Main St, Austin, TX 78701"
    link = f"{client.app[keys.SETTINGS].app_url}/gigs/{booked}"
    assert unescape(late["DESCRIPTION"]) == f"Pay: $250.00\n\n{link}"
    # no times: all day
    assert found[f"{full}@umbrella"]["DTSTART;VALUE=DATE"] == f"{TODAY + timedelta(days=20):%Y%m%d}"
    assert found[f"{called_off}@umbrella"]["STATUS"] == "CANCELLED"


async def test_a_venue_feed_holds_its_own_gigs(client: Client) -> None:
    venue = await make_user(role="venue")
    other_venue = await make_user(role="venue")
    headers = await bearer_for(client.app, venue)
    _, artist_id = await make_artist()
    mine = await add_gig(venue, title="Open mic", payment_type="negotiable", payment_amount=None)
    cancelled = await add_gig(venue, status="cancelled", days=3)
    await apply(mine, artist_id)
    await add_gig(other_venue)

    found = await feed(client, await new_link(client, headers))

    assert [event["UID"] for event in found] == [f"{cancelled}@umbrella", f"{mine}@umbrella"]
    assert [event["STATUS"] for event in found] == ["CANCELLED", "CONFIRMED"]
    assert unescape(found[1]["DESCRIPTION"]).startswith("Pay: negotiable\n\n")


async def test_a_feed_holds_at_most_500_events(client: Client) -> None:
    venue = await make_user(role="venue")
    headers = await bearer_for(client.app, venue)
    await sql(
        "INSERT INTO gigs (venue_id, title, venue_name, city, state, date, payment_amount)"
        " SELECT {}, 'Night ' || n, 'Hall', 'Austin', 'TX', {}::date + n, 100"
        " FROM generate_series(1, 505) AS n",
        venue,
        TODAY,
    )
    found = await feed(client, await new_link(client, headers))
    assert len(found) == 500
    assert unescape(found[0]["SUMMARY"]) == "Night 1 at Hall"  # the soonest are kept


async def test_only_the_hash_is_stored_and_the_status_never_shows_the_link(
    client: Client,
) -> None:
    user_id, _ = await make_artist()
    me = await bearer_for(client.app, user_id)
    assert await status_of(client, me) == {
        "exists": False,
        "created_at": None,
        "last_used_at": None,
    }

    path = await new_link(client, me)
    token = token_of(path)
    assert len(token) >= 43  # 32 random bytes

    [row] = await sql("SELECT to_jsonb(t)::text AS row, token_hash FROM calendar_feeds t")
    assert row["token_hash"] == hash_token(token)
    assert token not in row["row"]
    status = await status_of(client, me)
    assert status["exists"] is True
    assert status["created_at"] is not None
    assert status["last_used_at"] is None
    assert token not in json.dumps(status)


async def test_last_used_is_written_at_most_once_an_hour(client: Client) -> None:
    user_id, _ = await make_artist()
    me = await bearer_for(client.app, user_id)
    path = await new_link(client, me)

    await feed(client, path)
    first = (await status_of(client, me))["last_used_at"]
    assert first is not None
    await feed(client, path)
    assert (await status_of(client, me))["last_used_at"] == first

    await sql("UPDATE calendar_feeds SET last_used_at = now() - interval '61 minutes'")
    await feed(client, path)
    assert (await status_of(client, me))["last_used_at"] > first


async def test_a_new_link_replaces_the_old_one_at_once(client: Client) -> None:
    user_id, _ = await make_artist()
    me = await bearer_for(client.app, user_id)
    old = await new_link(client, me)
    await feed(client, old)

    new = await new_link(client, me)

    assert new != old
    await not_found(await client.get(old))
    await feed(client, new)
    [row] = await sql("SELECT count(*) AS n FROM calendar_feeds")
    assert row["n"] == 1


async def test_revoking_turns_the_link_off_and_is_idempotent(client: Client) -> None:
    user_id, _ = await make_artist()
    me = await bearer_for(client.app, user_id)
    path = await new_link(client, me)

    for _ in range(2):
        response = await client.delete("/v1/calendar/token", headers=me)
        assert response.status == 200
        assert (await response.json())["data"]["exists"] is False
        await not_found(await client.get(path))
    assert (await status_of(client, me))["exists"] is False


async def test_unknown_or_missing_tokens_are_not_found(client: Client) -> None:
    await not_found(await client.get("/v1/calendar.ics"))
    await not_found(await client.get("/v1/calendar.ics?token="))
    await not_found(await client.get("/v1/calendar.ics?token=nope"))
    await not_found(await client.get("/v1/calendar.ics?token=" + "x" * 500))


async def test_managing_the_link_needs_a_session_and_an_artist_or_venue(client: Client) -> None:
    for method, path in (
        (client.get, "/v1/calendar"),
        (client.post, "/v1/calendar/token"),
        (client.delete, "/v1/calendar/token"),
    ):
        response = await method(path)
        assert response.status == 401
    admin = await bearer_for(client.app, await make_user(role="admin"))
    response = await client.post("/v1/calendar/token", headers=admin)
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "FORBIDDEN"
    [row] = await sql("SELECT count(*) AS n FROM calendar_feeds")
    assert row["n"] == 0


async def test_the_export_lists_the_feed_without_its_hash(client: Client) -> None:
    user_id, _ = await make_artist()
    me = await bearer_for(client.app, user_id)
    token = token_of(await new_link(client, me))

    response = await client.get("/v1/settings/export", headers=me)
    text = await response.text()
    assert response.status == 200, text

    [exported] = json.loads(text)["data"]["calendar_feeds"]
    assert exported["user_id"] == str(user_id)
    assert set(exported) == {"id", "user_id", "created_at", "last_used_at"}
    assert hash_token(token) not in text
    assert token not in text


async def test_deleting_the_account_removes_the_feed(client: Client) -> None:
    user_id, _ = await make_artist()
    me = await bearer_for(client.app, user_id)
    path = await new_link(client, me)

    response = await client.delete("/v1/settings/account", headers=me, json={"confirm": "DELETE"})
    assert response.status == 200, await response.text()

    [row] = await sql("SELECT count(*) AS n FROM calendar_feeds")
    assert row["n"] == 0
    await not_found(await client.get(path))


async def test_the_routes_are_documented(client: Client) -> None:
    spec = await (await client.get("/v1/openapi.json")).json()
    # the calendar's own paths: tests/web checks the whole document
    paths = {path: item for path, item in spec["paths"].items() if "/calendar" in path}
    validate({**spec, "paths": paths})
    assert set(paths["/v1/calendar"]) >= {"get"}
    assert set(paths["/v1/calendar/token"]) >= {"post", "delete"}
    ics_get = paths["/v1/calendar.ics"]["get"]
    assert ics_get["security"] == []
    assert [parameter["name"] for parameter in ics_get["parameters"]] == ["token"]
    assert ics_get["tags"] == ["calendar"]
