"""`GET|PUT /v1/settings`: notification preferences and the phone number texts go to."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.factories import bearer_for, make_user
from umbrella.accounts.tables import User

Client = TestClient[web.Request, web.Application]


async def signed_in(client: Client, **user: Any) -> tuple[UUID, dict[str, str]]:
    user_id = await make_user(email="luna@example.com", **user)
    return user_id, await bearer_for(client.app, user_id)


async def stored(user_id: UUID) -> dict[str, Any]:
    row = (
        await User.select(User.phone, User.notify_email, User.notify_sms, User.updated_at)
        .where(User.id == user_id)
        .first()
    )
    assert row is not None
    return row


async def test_get_shows_the_preferences_and_where_they_go(client: Client) -> None:
    _, headers = await signed_in(client, phone="+14155550100", notify_sms=False)
    response = await client.get("/v1/settings", headers=headers)
    assert response.status == 200
    assert (await response.json())["data"] == {
        "email": "luna@example.com",
        "phone": "+14155550100",
        "notify_email": True,
        "notify_sms": False,
    }


async def test_put_changes_only_the_fields_given(client: Client) -> None:
    user_id, headers = await signed_in(client, phone="+14155550100")
    response = await client.put("/v1/settings", json={"notify_sms": False}, headers=headers)
    assert response.status == 200
    assert (await response.json())["data"] == {
        "email": "luna@example.com",
        "phone": "+14155550100",
        "notify_email": True,
        "notify_sms": False,
    }
    row = await stored(user_id)
    assert (row["phone"], row["notify_email"], row["notify_sms"]) == ("+14155550100", True, False)

    # Any common way of writing a number is stored as E.164.
    response = await client.put(
        "/v1/settings",
        json={"phone": "+44 20 7946 0958", "notify_email": False, "notify_sms": True},
        headers=headers,
    )
    data = (await response.json())["data"]
    assert (data["phone"], data["notify_email"], data["notify_sms"]) == (
        "+442079460958",
        False,
        True,
    )
    assert (await stored(user_id))["phone"] == "+442079460958"


async def test_null_removes_the_phone_number(client: Client) -> None:
    user_id, headers = await signed_in(client, phone="+14155550100")
    response = await client.put("/v1/settings", json={"phone": None}, headers=headers)
    assert response.status == 200
    assert (await response.json())["data"]["phone"] is None
    assert (await stored(user_id))["phone"] is None


async def test_an_empty_body_changes_nothing(client: Client) -> None:
    user_id, headers = await signed_in(client)
    before = await stored(user_id)
    response = await client.put("/v1/settings", json={}, headers=headers)
    assert response.status == 200
    assert await stored(user_id) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"phone": "12345"}, "phone"),
        ({"phone": "+1 555"}, "phone"),
        ({"phone": "not a number"}, "phone"),
        ({"phone": ""}, "phone"),
        ({"phone": "+1" + "5" * 40}, "phone"),
        ({"phone": 14155550100}, "phone"),
        ({"notify_email": None}, "notify_email"),
        ({"notify_sms": "yes"}, "notify_sms"),
        ({"notify_email": 1}, "notify_email"),
        ({"nickname": "luna"}, "nickname"),
        ({"email": "other@example.com"}, "email"),
        ({"notify_sms": False, "phone": "12"}, "phone"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_written(
    client: Client, body: dict[str, Any], field: str
) -> None:
    user_id, headers = await signed_in(client, phone="+14155550100")
    before = await stored(user_id)
    response = await client.put("/v1/settings", json=body, headers=headers)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["field"] == field
    assert await stored(user_id) == before


async def test_a_bad_phone_says_what_is_wrong(client: Client) -> None:
    _, headers = await signed_in(client)
    response = await client.put("/v1/settings", json={"phone": "12345"}, headers=headers)
    message = (await response.json())["error"]["message"]
    assert message.startswith("The phone number has no valid country code")
    assert "12345" not in message


async def test_settings_need_a_session(client: Client) -> None:
    assert (await client.get("/v1/settings")).status == 401
    assert (await client.put("/v1/settings", json={"notify_sms": False})).status == 401
