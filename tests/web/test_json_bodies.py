"""JSON bodies the parser cannot turn into values we store: 400 on the field, never a 500."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.factories import bearer_for, make_artist

Client = TestClient[web.Request, web.Application]

# Python refuses to read an integer of more than 4,300 digits (int_max_str_digits).
HUGE = "9" * 4_301
JSON = {"Content-Type": "application/json"}


async def error_of(response: aiohttp.ClientResponse) -> dict[str, Any]:
    assert response.status == 400, await response.text()
    body = await response.json()
    assert body["success"] is False
    error: dict[str, Any] = body["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert "Traceback" not in str(body)
    return error


async def artist_headers(client: Client) -> dict[str, str]:
    user_id, _ = await make_artist()
    return {**JSON, **await bearer_for(client.app, user_id)}


async def test_a_huge_integer_is_400_on_its_field_even_anonymously(client: Client) -> None:
    token = "t" * 43
    review = f'{{"token": "{token}", "rating": {HUGE}}}'
    response = await client.post("/v1/reviews/invitations/review", data=review, headers=JSON)
    assert (await error_of(response))["field"] == "rating"

    for body, field in (
        (HUGE, "body"),
        (f'[1, {{"a": [{HUGE}]}}]', "1.a.0"),
        (f'{{"token": "{token}", "rating": -{HUGE}}}', "rating"),
    ):
        response = await client.post("/v1/reviews/invitations/check", data=body, headers=JSON)
        assert (await error_of(response))["field"] == field, body[:40]


async def test_long_numbers_python_can_read_still_reach_validation(client: Client) -> None:
    # 4,300 digits, or a long fraction, are numbers Python reads: pydantic judges them.
    for rating in ("9" * 4_300, "4." + "9" * 5_000):
        body = f'{{"token": "{"t" * 43}", "rating": {rating}}}'
        response = await client.post("/v1/reviews/invitations/review", data=body, headers=JSON)
        assert (await error_of(response))["field"] == "rating"
    # A digit run inside a string is text, not a number.
    text = f'{{"token": "{HUGE[:43]}"}}'
    response = await client.post("/v1/reviews/invitations/check", data=text, headers=JSON)
    assert response.status == 404, await response.text()


async def test_a_lone_surrogate_is_400_on_its_field(client: Client) -> None:
    headers = await artist_headers(client)
    response = await client.post(
        "/v1/contacts/lists", data='{"name": "Fans \\ud800"}', headers=headers
    )
    assert (await error_of(response))["field"] == "name"
    # A pair is one character (an emoji), and fine.
    paired = await client.post(
        "/v1/contacts/lists", data='{"name": "Fans \\ud83c\\udfb8"}', headers=headers
    )
    assert paired.status == 201, await paired.text()
    assert (await paired.json())["data"]["name"] == "Fans \N{GUITAR}"


async def test_a_json_contact_import_refuses_a_lone_surrogate_or_a_huge_number(
    client: Client,
) -> None:
    headers = await artist_headers(client)
    for body, field in (
        (
            '{"list_name": "Fans", "contacts": [{"email": "a@example.com"},'
            ' {"email": "b@example.com", "name": "Bo \\udc00"}]}',
            "contacts.1.name",
        ),
        ('{"list_name": "\\ud800", "contacts": [{"email": "a@example.com"}]}', "list_name"),
        ('{"list_name": "Fans", "contacts": [{"\\ud800": "x"}]}', "contacts.0.\\ud800"),
        (f'{{"list_name": "Fans", "contacts": [{{"phone": {HUGE}}}]}}', "contacts.0.phone"),
    ):
        response = await client.post("/v1/contacts/import", data=body, headers=headers)
        assert (await error_of(response))["field"] == field, body
    lists = await client.get("/v1/contacts", headers=headers)
    assert (await lists.json())["data"]["items"] == []
