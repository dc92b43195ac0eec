"""`/v1/openapi.json` is a valid OpenAPI 3 document describing every `/v1` route."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any, ClassVar
from uuid import UUID

from aiohttp import web
from aiohttp.test_utils import TestClient
from aiohttp_pydantic.oas.typing import r200
from openapi_spec_validator import validate
from pydantic import BaseModel

from tests.conftest import start_client
from tests.factories import bearer_for, make_user
from umbrella import keys
from umbrella.app import create_app
from umbrella.config import Environment, Settings
from umbrella.core.errors import ErrorCode
from umbrella.web.envelope import ok
from umbrella.web.openapi import HTTP_METHODS, build_openapi
from umbrella.web.operation_ids import OVERRIDES
from umbrella.web.views import ApiView

Client = TestClient[web.Request, web.Application]


async def test_openapi_document_is_valid_and_public(client: Client) -> None:
    response = await client.get("/v1/openapi.json")
    assert response.status == 200
    spec = await response.json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Umbrella API"
    session = spec["paths"]["/v1/auth/session"]
    assert set(session) >= {"get", "delete"}
    assert session["get"]["responses"]["default"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorEnvelope"
    }
    assert "bearer" in spec["components"]["securitySchemes"]
    # parameters a view reads itself are documented too
    search = {parameter["name"] for parameter in spec["paths"]["/v1/search"]["get"]["parameters"]}
    assert {"q", "type", "filters[genre]", "filters[location]"} <= search
    # an optional model in a response is a nullable reference, as OpenAPI 3.0 spells it
    gig = spec["components"]["schemas"]["GigOut"]["properties"]["my_application"]
    assert gig["nullable"] is True
    assert gig["allOf"] == [{"$ref": "#/components/schemas/MyApplicationOut"}]


async def test_every_v1_route_is_documented(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"env": Environment.DEVELOPMENT}))
    client = await start_client(app)
    try:
        spec = await (await client.get("/v1/openapi.json")).json()
        validate(spec)
        routes = {
            resource.canonical
            for resource in app.router.resources()
            if resource.canonical.startswith("/v1/") and resource.canonical != "/v1/openapi.json"
        }
        assert routes, "the app has /v1 routes"
        assert routes <= set(spec["paths"])
        # the dev login needs no session; everything else does
        assert spec["paths"]["/v1/auth/dev-login"]["post"]["security"] == []
        assert "security" not in spec["paths"]["/v1/auth/logout"]["post"]
    finally:
        await client.close()


# -- what a generated client relies on ----------------------------------------------------------

OPERATION_ID = re.compile(r"^[a-z][a-zA-Z0-9]*$")


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


async def test_every_operation_has_its_own_stable_name(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"env": Environment.DEVELOPMENT}))
    spec = build_openapi(app)
    ids = Counter(operation.get("operationId") for _, _, operation in _operations(spec))
    assert None not in ids, "an operation has no operationId"
    assert [name for name, count in ids.items() if count > 1] == []
    assert all(OPERATION_ID.match(str(name)) for name in ids), sorted(map(str, ids))
    # A client calls these names: they change only when the route does.
    by_route = {(method, path): op["operationId"] for path, method, op in _operations(spec)}
    assert by_route[("get", "/v1/auth/session")] == "getSession"
    assert by_route[("get", "/v1/auth/login/{provider}")] == "startSignIn"
    assert by_route[("post", "/v1/auth/dev-login")] == "devLogIn"
    assert by_route[("get", "/v1/gigs")] == "listGigs"
    assert by_route[("get", "/v1/gigs/{gig_id}")] == "getGig"
    assert by_route[("post", "/v1/gigs")] == "createGig"
    assert by_route[("post", "/v1/gigs/{gig_id}/cancel")] == "cancelGig"
    assert (
        by_route[("post", "/v1/gigs/{gig_id}/applications/{application_id}/accept")]
        == "acceptGigApplication"
    )
    assert by_route[("get", "/v1/conversations")] == "listConversations"
    assert by_route[("post", "/v1/conversations/{conversation_id}/messages")] == "sendMessage"
    assert by_route[("delete", "/v1/files/folders/{folder_id}")] == "deleteFileFolder"
    # an override outliving its route would wait to name another one
    assert set(OVERRIDES) - set(by_route) == set()


async def test_a_body_the_handler_needs_is_required(client: Client) -> None:
    spec = await (await client.get("/v1/openapi.json")).json()
    bodies = {
        f"{method.upper()} {path}": operation["requestBody"].get("required")
        for path, method, operation in _operations(spec)
        if "requestBody" in operation
    }
    assert bodies, "some operations take a body"
    # only the bodies a view reads itself when sent (`optional_bodies`) may be left out
    assert {label for label, required in bodies.items() if required is not True} == {
        "POST /v1/gigs/{gig_id}/apply",
        "POST /v1/gigs/{gig_id}/complete",
    }
    # as the API behaves: no body, no role
    user_id = await make_user(role="artist")
    response = await client.post(
        "/v1/onboarding/role", headers=await bearer_for(client.app, user_id)
    )
    assert response.status == 400


async def test_error_codes_are_an_enum_and_the_server_is_named(settings: Settings) -> None:
    spec = build_openapi(create_app(settings))
    schemas = spec["components"]["schemas"]
    assert schemas["ErrorBody"]["properties"]["code"] == {"$ref": "#/components/schemas/ErrorCode"}
    assert schemas["ErrorCode"]["enum"] == [code.value for code in ErrorCode]
    assert spec["servers"] == [{"url": settings.public_base_url}]


async def test_the_inbox_poll_declares_its_validator_and_answers_304(client: Client) -> None:
    spec = await (await client.get("/v1/openapi.json")).json()
    poll = spec["paths"]["/v1/conversations"]["get"]
    assert {"in": "header", "name": "If-None-Match"}.items() <= _parameter(
        poll, "If-None-Match"
    ).items()
    for status in ("200", "304"):
        assert set(poll["responses"][status]["headers"]) == {"ETag", "Cache-Control"}
    assert spec["components"]["headers"]["ETag"]["required"] is True
    headers = await bearer_for(client.app, await make_user(role="artist"))
    first = await client.get("/v1/conversations", headers=headers)
    assert first.status == 200
    etag = first.headers["ETag"]
    again = await client.get("/v1/conversations", headers={**headers, "If-None-Match": etag})
    assert again.status == 304
    assert again.headers["ETag"] == etag
    assert "Cache-Control" in again.headers


async def test_rate_limited_writes_declare_their_quota_and_every_refusal_when_to_retry(
    client: Client,
) -> None:
    spec = await (await client.get("/v1/openapi.json")).json()
    quota = {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}
    feed = spec["paths"]["/v1/calendar/token"]["post"]["responses"]
    assert quota | {"Cache-Control"} <= set(feed["200"]["headers"])
    assert quota | {"Retry-After"} <= set(feed["429"]["headers"])
    # messaging is not rate limited (D-087), nor are the providers' webhooks
    message = spec["paths"]["/v1/conversations/{conversation_id}/messages"]["post"]["responses"]
    assert "429" not in message
    assert "headers" not in message["201"]
    assert "429" not in spec["paths"]["/v1/webhooks/resend"]["post"]["responses"]
    for path, method, operation in _operations(spec):
        for status in ("429", "503"):
            if status in operation["responses"]:
                assert "Retry-After" in operation["responses"][status]["headers"], (method, path)
        assert "503" in operation["responses"], (method, path)
    # as the API answers
    headers = await bearer_for(client.app, await make_user(role="venue"))
    response = await client.post("/v1/calendar/token", headers=headers)
    assert response.status == 200, await response.text()
    assert quota | {"Cache-Control"} <= set(response.headers)


def _parameter(operation: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in operation["parameters"] if p["name"] == name)


# Properties that hold one of a fixed set wherever they appear: a client switches on them.
FIXED_SETS = frozenset(
    {"code", "role", "status", "next_step", "type", "kind", "payment_type", "consent_source"}
)


async def test_fixed_sets_are_enums(settings: Settings) -> None:
    schemas = build_openapi(create_app(settings))["components"]["schemas"]
    plain = [
        f"{name}.{field}"
        for name, schema in schemas.items()
        for field, property_ in (schema.get("properties") or {}).items()
        if field in FIXED_SETS and property_.get("type") == "string" and "enum" not in property_
    ]
    assert plain == []
    assert schemas["ParticipantOut"]["properties"]["role"]["enum"] == ["artist", "venue", "admin"]
    assert schemas["GigCardOut"]["properties"]["payment_type"]["enum"] == [
        "flat",
        "hourly",
        "negotiable",
    ]
    # OpenAPI 3.0.3: `nullable` does not widen an enum, so null is one of its values
    assert schemas["ContactMemberOut"]["properties"]["consent_source"]["enum"] == [
        "import",
        "form",
        None,
    ]
    next_step = schemas["OnboardingStatusOut"]["properties"]["next_step"]
    assert next_step["enum"] == ["role", "step1", "step2", "step3", "step4", "step5", None]


class LikeIn(BaseModel):
    note: str = ""


class LikeView(ApiView):
    """A one-click action whose body may be left out, as the gigs' apply and complete are."""

    optional_bodies: ClassVar[dict[str, type[BaseModel]]] = {"post": LikeIn}

    async def post(self, thing_id: UUID, /) -> r200:
        like = await self.optional_body(LikeIn)
        return ok(self.request, {"thing_id": thing_id, "note": like.note})


async def test_a_body_a_view_reads_itself_is_documented_as_optional(settings: Settings) -> None:
    app = web.Application()
    app[keys.SETTINGS] = settings
    app.router.add_view("/v1/things/{thing_id}/like", LikeView)
    spec = build_openapi(app)
    validate(spec)
    assert spec["paths"]["/v1/things/{thing_id}/like"]["post"]["requestBody"] == {
        "required": False,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LikeIn"}}},
    }
    assert spec["components"]["schemas"]["LikeIn"]["properties"]["note"]["type"] == "string"
