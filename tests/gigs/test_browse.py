"""Browsing (D-014): a shuffled scroll that never repeats or skips a gig, and its filters."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from tests.gigs.marketplace import (
    Client,
    Person,
    apply,
    artist,
    error_of,
    in_days,
    insert_gig,
    post_gig,
    venue,
)
from umbrella.gigs import browse, service, venue_cards
from umbrella.gigs.schemas import GigOut
from umbrella.gigs.tables import Gig


async def _bulk_gigs(venue_id: uuid.UUID, count: int, **columns: Any) -> set[str]:
    """`count` open gigs in one statement, each with a random shuffle key."""
    rows = await Gig.raw(
        "INSERT INTO gigs (venue_id, title, venue_name, city, state, date, genre,"
        " payment_amount, payment_type, capacity)"
        " SELECT {}, 'Gig ' || n, 'The Anchor', {}, 'TX', {}::date + (n % 60), {},"
        " 100 + n % 400, 'flat', 2 FROM generate_series(1, {}) AS n RETURNING id",
        venue_id,
        columns.get("city", "Austin"),
        columns.get("date", in_days(1)),
        columns.get("genre", "indie"),
        count,
    )
    return {str(row["id"]) for row in rows}


async def _scroll(
    client: Client, who: Person, params: dict[str, str], *, stop_after: int | None = None
) -> tuple[list[str], str | None, int]:
    seen: list[str] = []
    cursor: str | None = None
    seed = -1
    pages = 0
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/gigs", params=query, headers=who.headers)
        assert response.status == 200, await response.text()
        page = (await response.json())["data"]
        seed = page["seed"]
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        pages += 1
        if cursor is None or (stop_after is not None and pages >= stop_after):
            return seen, cursor, seed


async def test_a_scroll_through_1000_gigs_has_no_repeat_and_no_gap(client: Client) -> None:
    owner = await venue(client)
    everything = await _bulk_gigs(owner.user_id, 1000)
    # gigs the marketplace does not show: past, cancelled, filled
    await insert_gig(owner.user_id, date=in_days(-1))
    await insert_gig(owner.user_id, status="cancelled", cancelled_at=datetime.now(UTC), title="Off")
    await insert_gig(owner.user_id, status="filled", filled_slots=1, capacity=1)
    singer = await artist(client)
    seen, _, seed = await _scroll(client, singer, {"limit": "20"})
    assert len(seen) == len(set(seen)) == 1000
    assert set(seen) == everything
    # the same seed gives the same order; another scroll starts elsewhere
    again, _, _ = await _scroll(client, singer, {"limit": "20", "seed": str(seed)})
    assert again == seen
    other, _, _ = await _scroll(
        client, singer, {"limit": "20", "seed": str((seed + 2**30) % service.SHUFFLE_KEYS)}
    )
    assert other != seen
    assert set(other) == everything


async def test_a_city_scroll_keeps_the_marketplace_order_whichever_index_serves_it(
    client: Client,
) -> None:
    # A city's gigs come from the city index while fewer than CITY_FEW are left to show, and
    # from the walk along the shuffle keys while more are: one scroll here starts with more,
    # so it uses both, and must show exactly the marketplace's order restricted to the city.
    # Seed 0: the walk starts below every key, so all of the city's gigs are still to come.
    owner = await venue(client)
    austin = await _bulk_gigs(owner.user_id, browse.CITY_FEW + 300, city="Austin")
    elsewhere = await _bulk_gigs(owner.user_id, 300, city="Dallas")
    singer = await artist(client)
    everything, _, seed = await _scroll(client, singer, {"limit": "100", "seed": "0"})
    assert set(everything) == austin | elsewhere
    in_austin, _, _ = await _scroll(
        client, singer, {"limit": "100", "seed": str(seed), "city": "AUSTIN"}
    )
    assert in_austin == [gig for gig in everything if gig in austin]
    # a week of Austin: few gigs, all read from the city index
    week = {"date_from": in_days(1).isoformat(), "date_to": in_days(7).isoformat()}
    this_week = {
        row["id"]
        for row in await Gig.raw(
            "SELECT id::text FROM gigs WHERE city = 'Austin' AND date BETWEEN {} AND {}",
            in_days(1),
            in_days(7),
        )
    }
    week_scroll, _, _ = await _scroll(
        client, singer, {"limit": "50", "seed": str(seed), "city": "austin", **week}
    )
    assert 0 < len(this_week) < browse.CITY_FEW
    assert week_scroll == [gig for gig in everything if gig in this_week]


async def test_a_scroll_begun_before_the_daily_reshuffle_keeps_its_order(
    client: Client,
) -> None:
    owner = await venue(client)
    everything = await _bulk_gigs(owner.user_id, 120)
    singer = await artist(client)
    first, cursor, seed = await _scroll(client, singer, {"limit": "25"}, stop_after=2)
    assert cursor is not None
    await browse.update_shuffle()
    rest: list[str] = []
    while cursor:
        response = await client.get(
            "/v1/gigs", params={"limit": "25", "cursor": cursor}, headers=singer.headers
        )
        page = (await response.json())["data"]
        rest += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert len(first + rest) == len(set(first + rest)) == 120
    assert set(first + rest) == everything
    # a new scroll with the same seed walks the new keys: another order
    fresh, _, _ = await _scroll(client, singer, {"limit": "25", "seed": str(seed)})
    assert set(fresh) == everything
    assert fresh != first + rest


async def test_a_scroll_older_than_two_reshuffles_starts_again(client: Client) -> None:
    owner = await venue(client)
    await _bulk_gigs(owner.user_id, 30)
    singer = await artist(client)
    _, cursor, _ = await _scroll(client, singer, {"limit": "10"}, stop_after=1)
    await browse.update_shuffle()
    await browse.update_shuffle()
    response = await client.get(
        "/v1/gigs", params={"cursor": str(cursor), "limit": "10"}, headers=singer.headers
    )
    assert await error_of(response) == (400, "VALIDATION_ERROR", "cursor")


async def test_a_tampered_cursor_or_one_of_other_filters_is_refused(client: Client) -> None:
    owner = await venue(client)
    await _bulk_gigs(owner.user_id, 30)
    singer = await artist(client)
    _, cursor, _ = await _scroll(client, singer, {"limit": "10"}, stop_after=1)
    assert cursor is not None
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    for params in (
        {"cursor": tampered},
        {"cursor": "not-a-cursor"},
        {"cursor": cursor, "city": "Dallas"},  # a cursor of another scroll
    ):
        response = await client.get("/v1/gigs", params=params, headers=singer.headers)
        assert await error_of(response) == (400, "VALIDATION_ERROR", "cursor")


async def _ids(client: Client, who: Person, query: str) -> set[str]:
    response = await client.get(f"/v1/gigs?limit=100&{query}", headers=who.headers)
    assert response.status == 200, await response.text()
    return {item["id"] for item in (await response.json())["data"]["items"]}


async def test_filters_narrow_the_marketplace(client: Client) -> None:
    owner = await venue(client)
    jazz = await post_gig(
        client, owner, genre="jazz", city="Austin", date=in_days(3).isoformat(), capacity=4
    )
    rock = await post_gig(
        client,
        owner,
        genre="rock",
        city="Dallas",
        date=in_days(20).isoformat(),
        payment_amount="900",
    )
    folk = await post_gig(
        client,
        owner,
        genre="folk",
        city="austin",
        state="tx",
        date=in_days(40).isoformat(),
        payment_type="negotiable",
        payment_amount=None,
    )
    singer = await artist(client)
    assert await _ids(client, singer, "genre=jazz&genre=rock") == {jazz["id"], rock["id"]}
    assert await _ids(client, singer, "city=AUSTIN") == {jazz["id"], folk["id"]}
    assert await _ids(client, singer, "state=Tx&city=Dallas") == {rock["id"]}
    window = f"date_from={in_days(10).isoformat()}&date_to={in_days(30).isoformat()}"
    assert await _ids(client, singer, window) == {rock["id"]}
    assert await _ids(client, singer, "payment_min=500") == {rock["id"]}
    assert await _ids(client, singer, "payment_max=500") == {jazz["id"]}
    assert await _ids(client, singer, "urgent=true") == {jazz["id"]}  # D-010: 3 days, empty
    assert await _ids(client, singer, "urgent=false") == {rock["id"], folk["id"]}


async def test_bad_filters_name_their_field(client: Client) -> None:
    singer = await artist(client)
    cases = {
        "genre=jazz&genre=polka-metal": "genre.1",  # the second value
        "date_from=tomorrow": "date_from",
        "date_to=0": "date_to",  # not the Unix epoch: dates are YYYY-MM-DD
        "city=Aus%00tin": "city",  # Postgres cannot store a NUL (the fuzz found a 500)
        "date_from=1767225600": "date_from",
        f"date_from={in_days(5)}&date_to={in_days(1)}": "date_to",
        "payment_min=-5": "payment_min",
        "payment_min=50&payment_max=10": "payment_max",
        "limit=1000": "limit",
        "seed=-1": "seed",
        "urgent=maybe": "urgent",
    }
    for query, field in cases.items():
        response = await client.get(f"/v1/gigs?{query}", headers=singer.headers)
        assert await error_of(response) == (400, "VALIDATION_ERROR", field), query


async def test_a_gig_shows_the_artists_own_application_and_favorite(client: Client) -> None:
    owner = await venue(client)
    gig = await post_gig(client, owner)
    singer, other = await artist(client), await artist(client, "Other")
    response = await client.get(f"/v1/gigs/{gig['id']}", headers=singer.headers)
    data = (await response.json())["data"]
    assert (data["my_application"], data["is_favorite"]) == (None, False)
    assert "pending_applications" not in data  # the venue's counts are the venue's
    await apply(client, gig["id"], singer)
    await client.post(f"/v1/gigs/{gig['id']}/favorite", headers=singer.headers)
    data = (await (await client.get(f"/v1/gigs/{gig['id']}", headers=singer.headers)).json())[
        "data"
    ]
    assert data["my_application"]["status"] == "pending"
    assert data["is_favorite"] is True
    theirs = (await (await client.get(f"/v1/gigs/{gig['id']}", headers=other.headers)).json())[
        "data"
    ]
    assert (theirs["my_application"], theirs["is_favorite"]) == (None, False)
    missing = await client.get(f"/v1/gigs/{uuid.uuid4()}", headers=singer.headers)
    assert await error_of(missing) == (404, "NOT_FOUND", "gig_id")
    anonymous = await client.get(f"/v1/gigs/{gig['id']}")
    assert anonymous.status == 401


async def test_favorites_are_idempotent_and_listed_newest_first(client: Client) -> None:
    owner = await venue(client)
    first, second = await post_gig(client, owner), await post_gig(client, owner)
    singer = await artist(client)
    for gig in (first, second, first):
        response = await client.post(f"/v1/gigs/{gig['id']}/favorite", headers=singer.headers)
        assert (await response.json())["data"] == {"gig_id": gig["id"], "favorite": True}
    listed = (await (await client.get("/v1/favorites", headers=singer.headers)).json())["data"]
    assert [item["gig"]["id"] for item in listed["items"]] == [second["id"], first["id"]]
    assert all(item["gig"]["is_favorite"] for item in listed["items"])
    for _ in range(2):
        response = await client.delete(f"/v1/gigs/{first['id']}/favorite", headers=singer.headers)
        assert (await response.json())["data"]["favorite"] is False
    listed = (await (await client.get("/v1/favorites", headers=singer.headers)).json())["data"]
    assert [item["gig"]["id"] for item in listed["items"]] == [second["id"]]
    missing = await client.post(f"/v1/gigs/{uuid.uuid4()}/favorite", headers=singer.headers)
    assert await error_of(missing) == (404, "NOT_FOUND", "gig_id")
    not_an_artist = await client.post(f"/v1/gigs/{first['id']}/favorite", headers=owner.headers)
    assert not_an_artist.status == 403


async def test_the_venue_card_tells_artists_how_a_venue_behaves(client: Client) -> None:
    owner = await venue(client)
    now = datetime.now(UTC)
    for pay in ("100.00", "300.00", "200.00"):
        await insert_gig(
            owner.user_id,
            date=in_days(-30),
            status="completed",
            completed_at=now,
            payment_amount=pay,
            filled_slots=1,
        )
    await insert_gig(owner.user_id, date=in_days(-20), status="cancelled", cancelled_at=now)
    gig = await post_gig(client, owner, payment_amount="500.00")
    singer = await artist(client)
    data = (await (await client.get(f"/v1/gigs/{gig['id']}", headers=singer.headers)).json())[
        "data"
    ]
    assert data["venue"] == {
        "venue_id": str(owner.user_id),
        "completed_gigs": 3,
        "past_gigs": 4,
        "completion_rate": 0.75,
        "typical_pay": "250.00",  # the median of 100, 300, 200 and 500 (not the cancelled)
        "avg_rating": None,
        "total_reviews": 0,
    }


async def test_the_urgency_job_keeps_the_flag_current(client: Client) -> None:
    owner = await venue(client)
    soon = await insert_gig(owner.user_id, date=in_days(2), capacity=4)
    soon_half_full = await insert_gig(owner.user_id, date=in_days(2), capacity=4, filled_slots=2)
    later = await insert_gig(owner.user_id, date=in_days(9), urgency_flag=True)
    past = await insert_gig(owner.user_id, date=in_days(-1), urgency_flag=True)
    assert await service.update_urgency_flags(on=service.today()) == 3
    flags = {row["id"]: row["urgency_flag"] for row in await Gig.select(Gig.id, Gig.urgency_flag)}
    assert flags == {soon: True, soon_half_full: False, later: False, past: False}
    # a second run changes nothing
    assert await service.update_urgency_flags(on=service.today()) == 0


async def test_a_browse_page_shows_each_gig_as_the_gig_itself_does(client: Client) -> None:
    # The page is built from one statement's rows, not through GigOut: it must still be
    # exactly what GET /v1/gigs/{id} (validated by GigOut) answers for the same artist.
    known, newcomer = await venue(client), await venue(client, "Newcomer")
    await insert_gig(
        known.user_id,
        date=in_days(-10),
        status="completed",
        filled_slots=1,
        completed_at=datetime.now(UTC),
        payment_amount="120.00",
    )
    applied = await post_gig(client, known, payment_amount="250.50", start_time="21:00:00")
    saved = await post_gig(client, known)
    await venue_cards.update_venue_stats(on=service.today())  # `newcomer` has no row yet
    fresh = await post_gig(client, newcomer, payment_type="negotiable", payment_amount=None)
    singer = await artist(client)
    await apply(client, applied["id"], singer)
    await client.post(f"/v1/gigs/{saved['id']}/favorite", headers=singer.headers)

    response = await client.get("/v1/gigs", params={"limit": "10"}, headers=singer.headers)
    page = (await response.json())["data"]
    assert {item["id"] for item in page["items"]} == {applied["id"], saved["id"], fresh["id"]}
    for item in page["items"]:
        GigOut.model_validate(item)
        alone = await client.get(f"/v1/gigs/{item['id']}", headers=singer.headers)
        assert item == (await alone.json())["data"]
    by_id = {item["id"]: item for item in page["items"]}
    assert by_id[applied["id"]]["my_application"]["status"] == "pending"
    assert by_id[saved["id"]]["is_favorite"] is True
    assert by_id[applied["id"]]["venue"]["completed_gigs"] == 1  # from venue_stats
    assert by_id[fresh["id"]]["venue"]["past_gigs"] == 0  # computed live
