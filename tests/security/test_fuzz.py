"""API fuzzing: schemathesis sends generated requests to every operation of `/v1/openapi.json`.

Every answer must be documented: no 5xx ever, a status code the operation lists (or its
`default`), and the content type, headers and schema documented for that status. Invalid
input (schemathesis's negative mode) is sent too, but its acceptance is not checked
(`negative_data_rejection`): by design an empty optional text means null, an unknown Violet
context means career advice (SPEC §3.8), and pydantic reads `0` as a date. The API runs
for real (its own database, Redis and bucket) on a port of its own; requests carry the
bearer token of an onboarded artist (every operation) or venue (the operations a venue
uses), and the session must stay valid throughout, so nothing is fuzzed behind a 401.

`make test` runs FUZZ_EXAMPLES (default 5) derandomized examples per operation and generation
mode, so a run is reproducible; `make fuzz` runs FUZZ_EXAMPLES=150.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import threading
from collections import Counter
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar
from uuid import UUID

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from redis.asyncio import Redis
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.core.transport import Response
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Servers, create_database, drop_database, make_settings
from tests.factories import bearer_for, make_artist, make_user
from tests.fakes.anthropic import FakeAnthropic, use_fake_anthropic
from tests.gigs.marketplace import insert_gig
from umbrella.web import openapi

T = TypeVar("T")
Case = schemathesis.Case[APIOperation[Any, Any, Any, Any]]

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))

# Operations not fuzzed, with the reason. None: the provider webhooks are fuzzed too (their
# secrets are configured, so a forged request gets 403, never a 5xx), and so are the
# operations that end a session (each example gets a user of its own, below).
EXCLUDED: dict[str, str] = {}

# Operations that end the caller's session or account: each example signs in a new artist,
# so the shared sessions survive for the operations that follow.
SESSION_ENDING = {"POST /v1/auth/logout", "DELETE /v1/auth/session", "DELETE /v1/settings/account"}

# The operations a venue uses besides the artist's: gigs, applications, bookings, messages.
VENUE_PATHS = r"^/v1/(gigs|venue|venues|applications|conversations|calendar|onboarding|settings)"


def _session_kept(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """A signed-in request is never answered 401: the fuzzer's session stays valid."""
    if case.operation.definition.raw.get("security") == []:
        return None
    assert response.status_code != 401, f"401 for a signed-in request: {response.text[:300]}"
    return True


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    _session_kept,
]


class LoopThread:
    """An event loop of its own in a thread: the API serves there while schemathesis (which
    calls it synchronously, with `requests`) runs in the test's thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@dataclass
class Api:
    loop: LoopThread
    app: web.Application
    base_url: str
    artist: dict[str, str]
    venue: dict[str, str]
    # Path parameters that name a real row, used on every other example of an operation so
    # the fuzzer gets past the 404 into the handler.
    ids: dict[str, str]
    examples: Counter[str] = field(default_factory=Counter)

    def new_artist(self) -> dict[str, str]:
        return self.loop.run(_artist_headers(self.app))


async def _artist_headers(app: web.Application) -> dict[str, str]:
    user_id = await make_user(role="artist", onboarding_complete=True, phone="+15125550177")
    await make_artist(user_id=user_id, stage_name="Fuzz Artist")
    return await bearer_for(app, user_id)


async def _start(
    servers: Servers, database_url: str, loop: LoopThread
) -> tuple[web.AppRunner, FakeAnthropic, Api]:
    """The API on a port of its own, Violet's model at the fake Anthropic, both webhooks
    configured (so they check signatures instead of answering 503), and two signed-in users."""
    from umbrella.app import create_app

    redis = Redis.from_url(servers.redis_url)
    await redis.flushdb()
    await redis.aclose()
    anthropic = FakeAnthropic()
    await anthropic.start()
    settings_ = make_settings(
        servers,
        database_url=database_url,
        # The fuzzer writes far more than a person: the abuse limits must not answer for it.
        write_rate_limit_per_minute=100_000,
        write_rate_limit_per_ip_per_minute=100_000,
        upload_rate_limit_per_minute=100_000,
        upload_rate_limit_per_hour=1_000_000,
        twilio_auth_token=SecretStr("fuzz-twilio-auth-token"),
        resend_webhook_secret=SecretStr(
            "whsec_" + base64.b64encode(b"fuzz-resend-webhook-secret-32byt").decode()
        ),
    )
    app = create_app(use_fake_anthropic(settings_, anthropic))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    artist_user = await make_user(role="artist", onboarding_complete=True, phone="+15125550177")
    _, artist_id = await make_artist(user_id=artist_user, stage_name="Fuzz Artist")
    venue_user = await make_user(role="venue", onboarding_complete=True, phone="+15125550100")
    gig_id: UUID = await insert_gig(venue_user)
    api_ = Api(
        loop=loop,
        app=app,
        base_url=f"http://{host}:{port}",
        artist=await bearer_for(app, artist_user),
        venue=await bearer_for(app, venue_user),
        ids={
            "artist_id": str(artist_id),
            "venue_user_id": str(venue_user),
            "gig_id": str(gig_id),
        },
    )
    return runner, anthropic, api_


@pytest.fixture(scope="module")
def api(servers: Servers, template_database: str) -> Iterator[Api]:
    loop = LoopThread()
    name = loop.run(create_database(servers, template=template_database))
    runner, anthropic, api_ = loop.run(_start(servers, servers.database_url(name), loop))
    try:
        assert openapi.document(api_.app) == SPEC, "the fuzzer reads the document the API serves"
        yield api_
    finally:
        loop.run(runner.cleanup())
        loop.run(anthropic.stop())
        loop.run(drop_database(servers, name))
        loop.stop()


def _documented_spec() -> dict[str, Any]:
    """The document the API serves, built without starting it (the routes need no server),
    so that pytest names one test per operation when it collects them."""
    from umbrella.app import create_app
    from umbrella.web.openapi import build_openapi

    nowhere = Servers(
        "postgresql://fuzz@127.0.0.1:9/fuzz",
        "redis://127.0.0.1:9/0",
        "http://127.0.0.1:9",
        "key",
        "secret",
        None,
    )
    return build_openapi(create_app(make_settings(nowhere)))


SPEC = _documented_spec()
schema: BaseSchema = schemathesis.openapi.from_dict(SPEC)
for _label in EXCLUDED:
    _method, _path = _label.split(" ", 1)
    schema = schema.exclude(method=_method, path=_path)

FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _call(api: Api, case: Case, headers: dict[str, str]) -> None:
    label = f"{case.method.upper()} {case.operation.path}"
    if label in SESSION_ENDING:
        headers = api.new_artist()
    api.examples[label] += 1
    if api.examples[label] % 2 == 0 and case.path_parameters:
        for name in case.path_parameters:
            if name in api.ids:
                case.path_parameters[name] = api.ids[name]
    case.call_and_validate(base_url=api.base_url, headers=headers, checks=CHECKS, timeout=30)


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_as_an_artist(case: Case, api: Api) -> None:
    _call(api, case, api.artist)


@schema.include(path_regex=VENUE_PATHS).parametrize()
@FUZZ_SETTINGS
def test_venue_operations_as_a_venue(case: Case, api: Api) -> None:
    _call(api, case, api.venue)


def test_every_operation_is_fuzzed() -> None:
    """Nothing leaves the fuzz unnoticed: each exclusion above is listed with its reason."""
    operations = {
        f"{method.upper()} {path}"
        for path, item in SPEC["paths"].items()
        for method in item
        if method in {"get", "put", "post", "patch", "delete"}
    }
    assert set(EXCLUDED) <= operations
    assert operations >= SESSION_ENDING
    assert re.compile(VENUE_PATHS)


# -- what the fuzz found, pinned down -----------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"role": "\xf0\x28\x8c\x28"}'),  # not UTF-8: was a 500
        ("application/json; charset=bogus", b'{"role": "venue"}'),
        ("application/json; charset=base64", b'{"role": "venue"}'),  # a codec, no charset
        ("multipart/form-data", b"--x\r\n"),  # no boundary: was a 500
    ],
)
def test_unreadable_bodies_are_refused_as_400(api: Api, content_type: str, body: bytes) -> None:
    headers = {**api.artist, "Content-Type": content_type}
    for path in ("/v1/onboarding/role", "/v1/auth/callback/apple"):
        response = requests.post(api.base_url + path, data=body, headers=headers, timeout=30)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["field"] == "body"


def test_times_are_documented_without_an_offset() -> None:
    """JSON Schema's `format: time` needs an offset ("21:00:00Z"); ours are wall-clock times."""
    start = SPEC["components"]["schemas"]["GigOut"]["properties"]["start_time"]
    assert start["format"] == "partial-time"
    assert re.match(start["pattern"], "21:00:00")
    assert re.match(start["pattern"], "21:30")
