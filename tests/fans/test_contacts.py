"""Contact lists: made, renamed, deleted, counted per channel, paged; only the artist's own."""

from __future__ import annotations

import uuid
from typing import Any

from tests.factories import bearer_for, make_user
from tests.fans.people import (
    CSV_HEADER,
    Client,
    artist_session,
    data_of,
    error_of,
    import_csv,
    make_list,
    members,
    sent_delivery,
)
from umbrella.fans import suppressions


async def test_lists_are_made_renamed_deleted_and_unique_per_artist(client: Client) -> None:
    _, headers = await artist_session(client)
    _, other_headers = await artist_session(client, "Other")
    made = await data_of(
        await client.post(
            "/v1/contacts/lists",
            json={"name": "  Superfans ", "description": "Front row"},
            headers=headers,
        ),
        201,
    )
    assert (made["name"], made["description"], made["member_count"]) == (
        "Superfans",
        "Front row",
        0,
    )
    assert made["opted_in"] == {"email": 0, "sms": 0}
    # the same name: 409 for the same artist, fine for another
    again = await client.post("/v1/contacts/lists", json={"name": "Superfans"}, headers=headers)
    assert (await error_of(again, 409))["field"] == "name"
    await make_list(client, other_headers, "Superfans")
    for body, field in [({"name": ""}, "name"), ({"name": "x" * 101}, "name"), ({}, "name")]:
        bad = await client.post("/v1/contacts/lists", json=body, headers=headers)
        assert (await error_of(bad, 400))["field"] == field

    url = f"/v1/contacts/lists/{made['id']}"
    renamed = await data_of(
        await client.put(url, json={"name": "Front row", "description": None}, headers=headers)
    )
    assert (renamed["name"], renamed["description"]) == ("Front row", None)
    await make_list(client, headers, "Newsletter")
    clash = await client.put(url, json={"name": "Newsletter"}, headers=headers)
    assert (await error_of(clash, 409))["field"] == "name"

    # another artist's list does not exist for them
    for method in ("get", "put", "delete"):
        kwargs: dict[str, Any] = {"json": {"name": "Mine"}} if method == "put" else {}
        theirs = await getattr(client, method)(url, headers=other_headers, **kwargs)
        assert (await error_of(theirs, 404))["field"] == "list_id"
    theirs = await client.get(f"{url}/members", headers=other_headers)
    assert (await error_of(theirs, 404))["field"] == "list_id"

    assert (await data_of(await client.delete(url, headers=headers)))["deleted"] is True
    assert (await error_of(await client.get(url, headers=headers), 404))["field"] == "list_id"


async def test_venues_have_no_contacts(client: Client) -> None:
    venue = await make_user(role="venue", onboarding_complete=True)
    headers = await bearer_for(client.app, venue)
    assert (await client.get("/v1/contacts", headers=headers)).status == 403
    made = await client.post("/v1/contacts/lists", json={"name": "Fans"}, headers=headers)
    assert made.status == 403
    assert (await import_csv(client, headers, CSV_HEADER + "a@b.co,,,,,,\n")).status == 403
    assert (await client.get("/v1/contacts")).status == 401
    # An artist before onboarding step 1 is sent to onboarding, whatever they tried.
    no_profile = await bearer_for(client.app, await make_user(role="artist"))
    for response in (
        await client.get("/v1/contacts", headers=no_profile),
        await client.post("/v1/contacts/lists", json={"name": "Fans"}, headers=no_profile),
        await import_csv(client, no_profile, CSV_HEADER + "a@b.co,,,,,,\n"),
    ):
        assert (await error_of(response, 404))["field"] == "onboarding"


async def test_counts_are_who_each_channel_would_reach(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    list_id = await make_list(client, headers, "Newsletter")
    await make_list(client, headers, "Empty")
    csv_text = CSV_HEADER + (
        "ana@example.com,+14155550101,Ana,yes,yes,,\n"
        "ben@example.com,+14155550102,Ben,yes,no,,\n"
        "cy@example.com,,Cy,no,,,\n"
        ",+14155550103,Dee,,yes,,\n"
    )
    await data_of(await import_csv(client, headers, csv_text, list_id=list_id))
    # Ben unsubscribed, Dee texted STOP: counted out, still members
    await suppressions.suppress(
        artist_id=artist_id, channel="email", address="ben@example.com", reason="unsubscribe"
    )
    await suppressions.suppress(
        artist_id=artist_id, channel="sms", address="+14155550103", reason="stop"
    )

    page = await data_of(await client.get("/v1/contacts", headers=headers))
    assert [(item["name"], item["member_count"], item["opted_in"]) for item in page["items"]] == [
        ("Empty", 0, {"email": 0, "sms": 0}),
        ("Newsletter", 4, {"email": 1, "sms": 1}),
    ]
    by_email = {m["email"] or m["phone"]: m for m in await members(client, headers, list_id)}
    assert by_email["ben@example.com"]["email_suppressed"] is True
    assert by_email["+14155550103"]["sms_suppressed"] is True
    assert by_email["ana@example.com"]["email_suppressed"] is False

    # lists page by name without repeats
    names, cursor = [], None
    while True:
        query = "?limit=1" + (f"&cursor={cursor}" if cursor else "")
        page = await data_of(await client.get(f"/v1/contacts{query}", headers=headers))
        names += [item["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names == ["Empty", "Newsletter"]
    bad = await client.get("/v1/contacts?cursor=forged", headers=headers)
    assert (await error_of(bad, 400))["field"] == "cursor"


async def test_members_page_newest_first_and_can_be_removed(client: Client) -> None:
    _artist_id, headers = await artist_session(client)
    list_id = await make_list(client, headers)
    rows = "".join(f"fan{n}@example.com,,Fan {n},yes,,,\n" for n in range(25))
    await data_of(await import_csv(client, headers, CSV_HEADER + rows, list_id=list_id))
    first = await data_of(
        await client.get(f"/v1/contacts/lists/{list_id}/members?limit=10", headers=headers)
    )
    assert len(first["items"]) == 10
    assert first["next_cursor"]
    everyone = await members(client, headers, list_id)
    assert len({m["id"] for m in everyone}) == 25
    member = everyone[0]
    assert member["consent_source"] == "import"
    assert member["email_consent_at"] is not None

    url = f"/v1/contacts/lists/{list_id}/members/{member['id']}"
    _, other_headers = await artist_session(client, "Other")
    assert (await client.delete(url, headers=other_headers)).status == 404
    assert (await data_of(await client.delete(url, headers=headers)))["deleted"] is True
    gone = await client.delete(url, headers=headers)
    assert (await error_of(gone, 404))["field"] == "member_id"
    assert len(await members(client, headers, list_id)) == 24


async def test_a_list_a_scheduled_broadcast_goes_to_is_kept(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    list_id = await make_list(client, headers)
    delivery = await sent_delivery(artist_id, channel="email", address="a@example.com")
    from umbrella.broadcasts.tables import BroadcastDelivery, BroadcastList, BroadcastMessage

    [row] = await BroadcastDelivery.select(BroadcastDelivery.broadcast_id).where(
        BroadcastDelivery.id == delivery
    )
    await BroadcastMessage.update({BroadcastMessage.status: "sending"}).where(
        BroadcastMessage.id == row["broadcast_id"]
    )
    await BroadcastList.insert(
        BroadcastList(broadcast_id=row["broadcast_id"], list_id=uuid.UUID(list_id))
    )
    refused = await client.delete(f"/v1/contacts/lists/{list_id}", headers=headers)
    assert (await error_of(refused, 409))["field"] == "list_id"
