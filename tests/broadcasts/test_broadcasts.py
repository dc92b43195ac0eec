"""POST /v1/broadcast, preview, history and cancel: the rules, the errors, nothing sent on error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.broadcasts.audience import (
    add_contacts,
    delivery_counts,
    email,
    make_list,
    phone,
    suppress,
)
from tests.factories import bearer_for, make_artist, make_user
from umbrella.broadcasts.tables import BroadcastMessage

Client = TestClient[web.Request, web.Application]


async def _artist(client: Client) -> tuple[dict[str, str], Any, Any]:
    user_id, artist_id = await make_artist(stage_name="Luna Vega")
    return await bearer_for(client.app, user_id), artist_id, await make_list(artist_id)


def _body(list_id: Any, **more: Any) -> dict[str, Any]:
    return {"list_ids": [str(list_id)], "channels": "both", "subject": "News", "body": "Hi!"} | more


async def test_bad_input_gets_its_code_and_field_and_sends_nothing(client: Client) -> None:
    headers, _, list_id = await _artist(client)
    await add_contacts(list_id, range(0, 5))
    _, other_artist = await make_artist(stage_name="Other")
    other_list = await make_list(other_artist)
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    cases = [
        (_body(list_id, body="   "), 400, "body"),
        (_body(list_id, channels="email", body="x" * 50_001), 400, "body"),
        (_body(list_id, channels="sms", body="x" * 1_601), 400, "body"),
        # the name and "Reply STOP to opt out" are part of the text too
        (_body(list_id, channels="sms", body="x" * 1_590), 400, "body"),
        (_body(list_id, channels="email", subject=None), 400, "subject"),
        (_body(other_list), 404, "list_ids"),
        (_body(list_id, send_at=past), 400, "send_at"),
    ]
    for path in ("/v1/broadcast", "/v1/broadcast/preview"):
        for payload, status, field in cases:
            response = await client.post(path, json=payload, headers=headers)
            answer = await response.json()
            assert (response.status, answer["error"]["field"]) == (status, field), payload
    assert await BroadcastMessage.count() == 0
    assert (await BroadcastMessage.raw("SELECT count(*) AS n FROM pgqueuer"))[0]["n"] == 0


async def test_venues_are_refused(client: Client) -> None:
    venue = await make_user(role="venue")
    response = await client.post(
        "/v1/broadcast",
        json=_body("00000000-0000-0000-0000-000000000000"),
        headers=await bearer_for(client.app, venue),
    )
    assert response.status == 403
    no_profile = await bearer_for(client.app, await make_user(role="artist"))
    history = await client.get("/v1/broadcast/history", headers=no_profile)
    assert history.status == 404
    assert (await history.json())["error"]["field"] == "onboarding"


async def test_preview_counts_equal_the_deliveries_a_send_creates(client: Client) -> None:
    headers, artist_id, first = await _artist(client)
    second = await make_list(artist_id, "VIP")
    await add_contacts(first, range(0, 100), email_every=2, sms_every=3)
    await add_contacts(second, range(50, 150), email_every=2, sms_every=3)  # 50 overlap
    await suppress(artist_id, "sms", phone(3))
    await suppress(artist_id, "email", email(4), reason="unsubscribe")
    payload = _body(first, list_ids=[str(first), str(second)], body="Tour dates are out €")
    preview = (
        await (await client.post("/v1/broadcast/preview", json=payload, headers=headers)).json()
    )["data"]
    # contacts 0..149 once each: even ones by email (75, one unsubscribed),
    # multiples of 3 by SMS (50, one stopped)
    assert preview["recipients"] == {"email": 74, "sms": 49, "total": 123}
    sms = preview["sms"]
    assert sms["text"] == "Luna Vega: Tour dates are out €\nReply STOP to opt out"
    assert (sms["encoding"], sms["segments"], sms["total_segments"]) == ("GSM-7", 1, 49)
    assert sms["estimated_cost"] == "0.39"  # 49 x 0.0079
    created = await client.post("/v1/broadcast", json=payload, headers=headers)
    assert created.status == 201
    broadcast = (await created.json())["data"]
    assert broadcast["recipient_count"] == 123
    counts = await delivery_counts(broadcast["id"])
    assert counts == {("email", "pending"): 74, ("sms", "pending"): 49}


async def test_scheduled_broadcast_waits_and_can_be_cancelled(client: Client) -> None:
    headers, _, list_id = await _artist(client)
    await add_contacts(list_id, range(0, 10))
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    response = await client.post(
        "/v1/broadcast", json=_body(list_id, send_at=later), headers=headers
    )
    broadcast = (await response.json())["data"]
    assert broadcast["status"] == "scheduled"
    history = (await (await client.get("/v1/broadcast/history", headers=headers)).json())["data"]
    assert history["items"][0]["counts"]["pending"] == 20
    cancel = await client.post(f"/v1/broadcast/{broadcast['id']}/cancel", headers=headers)
    assert (await cancel.json())["data"]["status"] == "cancelled"
    assert await delivery_counts(broadcast["id"]) == {
        ("email", "skipped"): 10,
        ("sms", "skipped"): 10,
    }
    again = await client.post(f"/v1/broadcast/{broadcast['id']}/cancel", headers=headers)
    assert again.status == 409
    other_headers, _, _ = await _artist(client)
    stranger = await client.post(f"/v1/broadcast/{broadcast['id']}/cancel", headers=other_headers)
    assert stranger.status == 404
