"""Abuse limits: writes per user and per IP, upload URLs, contact imports, body size and depth.

Small limits through settings keep each test fast; counters are real, in the test's Redis
(or, with Redis stopped, in the process), and every request goes over real HTTP.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from tests.accounts.flows import away_from_window_edge
from tests.conftest import start_client
from tests.factories import bearer_for, make_artist
from tests.fans.people import CSV_HEADER, import_csv
from tests.messaging import chat
from umbrella.app import create_app
from umbrella.config import Settings
from umbrella.devstack import DevStack
from umbrella.fans.tables import ContactList
from umbrella.web.jsonbody import json_too_deep

Client = TestClient[web.Request, web.Application]
MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture
async def make_client(settings: Settings) -> AsyncIterator[MakeClient]:
    """An API (its own app, as one replica) on this test's servers with some settings changed."""
    started: list[Client] = []

    async def make(**changes: Any) -> Client:
        client = await start_client(create_app(settings.model_copy(update=changes)))
        started.append(client)
        return client

    yield make
    for client in started:
        await client.close()


async def signed_in_artist(client: Client, name: str = "Luna Vega") -> dict[str, str]:
    user_id, _ = await make_artist(stage_name=name)
    return await bearer_for(client.app, user_id)


async def new_list(client: Client, headers: dict[str, str], name: str) -> aiohttp.ClientResponse:
    return await client.post("/v1/contacts/lists", json={"name": name}, headers=headers)


async def error_of(response: aiohttp.ClientResponse, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    error: dict[str, Any] = (await response.json())["error"]
    return error


def nested(depth: int) -> str:
    """A JSON object whose `name` holds `depth - 1` nested arrays: `depth` levels in all."""
    return '{"name": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


# -- writes --------------------------------------------------------------------------------------


async def test_in_app_messaging_is_never_rate_limited(make_client: MakeClient) -> None:
    # D-087: a conversation goes on however fast it is typed; other writes still count.
    client = await make_client(write_rate_limit_per_minute=2, write_rate_limit_per_ip_per_minute=2)
    me, other = await chat.artist(client), await chat.artist(client, "Other")
    await away_from_window_edge()
    conversation = await chat.start(client, me, other)
    for index in range(6):
        await chat.send(client, me, conversation["id"], f"message {index}")
        read = await client.post(
            f"/v1/conversations/{conversation['id']}/read", headers=other.headers
        )
        assert read.status == 200, await read.text()
    for index in range(2):
        assert (await new_list(client, me.headers, f"List {index}")).status == 201
    assert (await new_list(client, me.headers, "One too many")).status == 429


async def test_a_user_past_the_write_limit_gets_429_and_nothing_is_written(
    make_client: MakeClient,
) -> None:
    client = await make_client(write_rate_limit_per_minute=3)
    headers = await signed_in_artist(client)
    await away_from_window_edge()

    remaining = []
    for index in range(3):
        response = await new_list(client, headers, f"List {index}")
        assert response.status == 201
        assert response.headers["RateLimit-Limit"] == "3"
        assert 1 <= int(response.headers["RateLimit-Reset"]) <= 60
        remaining.append(response.headers["RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]

    refused = await new_list(client, headers, "One too many")
    error = await error_of(refused, 429)
    assert error["code"] == "RATE_LIMIT_EXCEEDED"
    assert "too quickly" in error["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Limit"] == "3"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["RateLimit-Reset"] == refused.headers["Retry-After"]
    assert await ContactList.count() == 3

    # reads are not limited, and another user has a budget of their own
    for _ in range(5):
        listed = await client.get("/v1/contacts", headers=headers)
        assert listed.status == 200
        assert "RateLimit-Limit" not in listed.headers
    other = await signed_in_artist(client, "Other Artist")
    assert (await new_list(client, other, "Theirs")).status == 201


async def test_refused_and_failed_writes_count_and_say_where_they_stand(
    make_client: MakeClient,
) -> None:
    client = await make_client(write_rate_limit_per_minute=2)
    headers = await signed_in_artist(client)
    await away_from_window_edge()
    invalid = await new_list(client, headers, "")
    assert (await error_of(invalid, 400))["field"] == "name"
    assert invalid.headers["RateLimit-Remaining"] == "1"  # an error answer says it too
    assert (await new_list(client, headers, "Fine")).status == 201
    assert (await new_list(client, headers, "Refused")).status == 429


async def test_one_address_has_one_budget_whoever_signs_in(make_client: MakeClient) -> None:
    client = await make_client(write_rate_limit_per_ip_per_minute=4)
    first = await signed_in_artist(client, "First")
    second = await signed_in_artist(client, "Second")
    await away_from_window_edge()
    for index in range(2):
        assert (await new_list(client, first, f"A{index}")).status == 201
        assert (await new_list(client, second, f"B{index}")).status == 201
    third = await signed_in_artist(client, "Third")
    error = await error_of(await new_list(client, third, "C"), 429)
    assert "your network" in error["message"]
    # anonymous writes count against the address too (sign-out without a session)
    assert (await client.post("/v1/auth/logout")).status == 429


async def test_behind_a_proxy_each_client_address_has_its_own_budget(
    make_client: MakeClient,
) -> None:
    client = await make_client(write_rate_limit_per_ip_per_minute=2, trusted_proxy_hops=1)
    headers = await signed_in_artist(client)
    await away_from_window_edge()
    for index in range(2):
        sent = await new_list(client, {**headers, "X-Forwarded-For": "203.0.113.7"}, f"L{index}")
        assert sent.status == 201
    again = await new_list(client, {**headers, "X-Forwarded-For": "203.0.113.7"}, "L2")
    assert again.status == 429
    elsewhere = await new_list(client, {**headers, "X-Forwarded-For": "203.0.113.8"}, "L3")
    assert elsewhere.status == 201


async def test_webhooks_unsubscribes_and_probes_are_never_limited(
    make_client: MakeClient,
) -> None:
    client = await make_client(write_rate_limit_per_ip_per_minute=1)
    await away_from_window_edge()
    for _ in range(4):
        # no webhook secret configured: 503, but never 429
        resend = await client.post("/v1/webhooks/resend", data=b"{}")
        assert resend.status == 503
        assert "RateLimit-Limit" not in resend.headers
        twilio = await client.post("/v1/webhooks/twilio/inbound", data={"Body": "STOP"})
        assert twilio.status in {403, 503}
        unsubscribe = await client.post("/v1/fans/unsubscribe", params={"token": "forged"})
        assert unsubscribe.status == 404
        assert (await client.get("/livez")).status == 200
        assert (await client.get("/metrics")).status == 200
    # the one write of this address's budget is still there
    assert (await client.post("/v1/auth/logout")).status == 401
    assert (await client.post("/v1/auth/logout")).status == 429


# Both apps share Piccolo's one engine per process; the second to stop finds its pool gone.
@pytest.mark.filterwarnings("ignore:.*No pool is running")
async def test_the_limit_holds_across_replicas_sharing_redis(
    make_client: MakeClient, redis_client: Redis
) -> None:
    one = await make_client(write_rate_limit_per_minute=4)
    two = await make_client(write_rate_limit_per_minute=4)
    user_id, _ = await make_artist()
    headers = await bearer_for(one.app, user_id)
    await away_from_window_edge()
    statuses = []
    for index in range(6):
        replica = (one, two)[index % 2]
        statuses.append((await new_list(replica, headers, f"List {index}")).status)
    assert statuses == [201, 201, 201, 201, 429, 429]
    counters = [key.decode() async for key in redis_client.scan_iter("ratelimit:write-user:*")]
    assert len(counters) == 1
    assert counters[0].startswith(f"ratelimit:write-user:{user_id}:")
    assert 0 < await redis_client.ttl(counters[0]) <= 65


async def test_with_redis_down_each_replica_still_limits_and_never_answers_503(
    make_client: MakeClient, own_redis: DevStack
) -> None:
    client = await make_client(
        redis_url=own_redis.endpoints.redis_url, write_rate_limit_per_minute=3
    )
    headers = await signed_in_artist(client)  # the session is in Postgres too
    own_redis.processes["redis"].stop()
    await away_from_window_edge()
    statuses = [(await new_list(client, headers, f"List {index}")).status for index in range(4)]
    # never open, never 503: the fourth of three allowed is refused by this process
    assert statuses == [201, 201, 201, 429]
    metrics = await (await client.get("/metrics")).text()
    assert 'umbrella_cache_requests_total{cache="ratelimit",result="error"}' in metrics


# -- upload URLs and contact imports -------------------------------------------------------------


async def test_upload_urls_are_limited_per_user(make_client: MakeClient) -> None:
    client = await make_client(upload_rate_limit_per_minute=2)
    headers = await signed_in_artist(client)
    await away_from_window_edge()
    ticket = {"content_type": "image/png", "size_bytes": 1000, "filename": "a.png"}
    assert (await client.post("/v1/files/upload", json=ticket, headers=headers)).status == 201
    avatar = {"content_type": "image/png", "size_bytes": 1000}
    assert (await client.post("/v1/profile/avatar", json=avatar, headers=headers)).status == 201
    # every route that hands out an upload URL shares the budget
    refused = await client.post("/v1/profile/banner", json=avatar, headers=headers)
    error = await error_of(refused, 429)
    assert "uploads" in error["message"]
    assert refused.headers["RateLimit-Limit"] == "2"
    track = {"content_type": "audio/mpeg", "size_bytes": 1000, "filename": "a.mp3"}
    assert (
        await client.post("/v1/profile/tracks/upload", json=track, headers=headers)
    ).status == 429
    # other writes go on
    assert (await new_list(client, headers, "Still fine")).status == 201


async def test_contact_imports_are_limited_per_user_per_hour(make_client: MakeClient) -> None:
    client = await make_client(contact_import_rate_limit_per_hour=2)
    headers = await signed_in_artist(client)
    await away_from_window_edge(3600)
    csv_text = CSV_HEADER + "ana@example.com,,Ana,yes,,,\n"
    for _ in range(2):
        assert (await import_csv(client, headers, csv_text, list_name="Fans")).status == 200
    refused = await import_csv(client, headers, csv_text, list_name="Fans")
    error = await error_of(refused, 429)
    assert error["message"] == "At most 2 contact imports an hour. Try again later."
    assert 60 < int(refused.headers["Retry-After"]) <= 3600
    assert refused.headers["RateLimit-Limit"] == "2"


# -- bodies ----------------------------------------------------------------------------------------


async def test_a_json_body_nested_too_deeply_is_refused_before_parsing(
    make_client: MakeClient,
) -> None:
    client = await make_client(max_json_depth=8)
    headers = await signed_in_artist(client)
    json_headers = {**headers, "Content-Type": "application/json"}

    at_limit = await client.post("/v1/contacts/lists", data=nested(8), headers=json_headers)
    assert (await error_of(at_limit, 400))["field"] == "name"  # parsed: just not a name
    too_deep = await client.post("/v1/contacts/lists", data=nested(9), headers=json_headers)
    error = await error_of(too_deep, 400)
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "body")
    assert error["message"] == "The JSON body is nested too deeply: at most 8 levels."
    # what a recursive parser would choke on is a 400 too, never a 500
    bomb = "[" * 200_000 + "]" * 200_000
    assert (await client.post("/v1/contacts/lists", data=bomb, headers=json_headers)).status == 400
    # brackets inside strings do not nest
    brackets = json.dumps({"name": "[" * 50 + "{" * 50})[:120]
    assert json.loads(brackets)
    made = await client.post("/v1/contacts/lists", data=brackets, headers=json_headers)
    assert made.status == 201
    # the contact import reads its own (larger) body and checks it the same way
    deep_import = '{"list_name": "Fans", "contacts": ' + "[" * 10 + "]" * 10 + "}"
    imported = await client.post("/v1/contacts/import", data=deep_import, headers=json_headers)
    assert (await error_of(imported, 400))["field"] == "body"


async def test_the_default_depth_fits_any_real_body(settings: Settings) -> None:
    assert settings.max_json_depth == 32
    assert not json_too_deep(nested(32).encode(), 32)
    assert json_too_deep(nested(33).encode(), 32)
    # object > array > object > array: four levels, whatever the string holds
    four = b'{"a": "\\"[[[[", "b": [{"c": [1, 2]}]}'
    assert (json_too_deep(four, 4), json_too_deep(four, 3)) == (False, True)


async def test_an_oversize_body_gets_413_naming_the_body(make_client: MakeClient) -> None:
    client = await make_client(max_body_bytes=2048)
    headers = {**(await signed_in_artist(client)), "Content-Type": "application/json"}
    big = json.dumps({"name": "x" * 4096})
    declared = await client.post("/v1/contacts/lists", data=big, headers=headers)
    error = await error_of(declared, 413)
    assert (error["code"], error["field"]) == ("PAYLOAD_TOO_LARGE", "body")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b" " * 1024  # no Content-Length: aiohttp counts as it reads

    streamed = await client.post("/v1/contacts/lists", data=chunks(), headers=headers)
    error = await error_of(streamed, 413)
    assert (error["code"], error["field"]) == ("PAYLOAD_TOO_LARGE", "body")
    assert await ContactList.count() == 0


async def test_defaults_stay_far_above_what_a_person_does(settings: Settings) -> None:
    # A person clicking in the web app writes a few times a minute; defaults leave ample room.
    assert settings.write_rate_limit_per_minute == 120
    assert settings.write_rate_limit_per_ip_per_minute == 300
    assert (settings.upload_rate_limit_per_minute, settings.upload_rate_limit_per_hour) == (
        60,
        600,
    )
    assert settings.contact_import_rate_limit_per_hour == 20
