"""The envelope, error codes, request ids, body limits and CORS, seen by an HTTP client."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tests.conftest import start_client
from umbrella.config import Environment, Settings
from umbrella.web.views import public, validation_failed

Client = TestClient[web.Request, web.Application]


def assert_error(body: dict[str, Any], code: str, field: str | None = None) -> None:
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["error"].get("field") == field
    assert body["meta"]["version"] == "v1"
    assert body["meta"]["request_id"]


async def test_unknown_route_is_a_404_envelope(client: Client) -> None:
    response = await client.get("/v1/no-such-thing")
    assert response.status == 404
    assert_error(await response.json(), "NOT_FOUND")


async def test_wrong_method_is_a_405_envelope_with_allow(client: Client) -> None:
    response = await client.put("/v1/auth/logout")
    assert response.status == 405
    assert "POST" in response.headers["Allow"]
    assert_error(await response.json(), "METHOD_NOT_ALLOWED")


async def test_protected_route_without_session_is_401(client: Client) -> None:
    response = await client.get("/v1/auth/session")
    assert response.status == 401
    assert_error(await response.json(), "UNAUTHORIZED")


async def test_unknown_token_is_401_with_a_reason(client: Client) -> None:
    response = await client.get(
        "/v1/auth/session", headers={"Authorization": "Bearer not-a-real-token"}
    )
    assert response.status == 401
    body = await response.json()
    assert_error(body, "UNAUTHORIZED")
    assert "expired" in body["error"]["message"]


async def test_request_id_is_echoed_or_made(client: Client) -> None:
    given = await client.get("/livez", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = await client.get("/v1/nothing", headers={"X-Request-ID": "bad id with spaces"})
    request_id = made.headers["X-Request-ID"]
    assert request_id != "bad id with spaces"
    assert len(request_id) == 32
    assert (await made.json())["meta"]["request_id"] == request_id


async def test_malformed_json_names_the_body(settings: Settings) -> None:
    from umbrella.app import create_app

    dev = settings.model_copy(update={"env": Environment.DEVELOPMENT})
    client = await start_client(create_app(dev))
    try:
        response = await client.post(
            "/v1/auth/dev-login", data="{not json", headers={"Content-Type": "application/json"}
        )
        assert response.status == 400
        assert_error(await response.json(), "VALIDATION_ERROR", "body")
        invalid = await client.post("/v1/auth/dev-login", json={"email": "not-an-email"})
        assert invalid.status == 400
        assert_error(await invalid.json(), "VALIDATION_ERROR", "email")
        unknown = await client.post("/v1/auth/dev-login", json={"email": "x@y.com", "admin": 1})
        assert_error(await unknown.json(), "VALIDATION_ERROR", "admin")
        # a rule over the whole body names the body, in our words, not pydantic's
        both = await client.post(
            "/v1/auth/dev-login", json={"email": "x@y.com", "user_id": str(uuid.uuid4())}
        )
        body = await both.json()
        assert_error(body, "VALIDATION_ERROR", "body")
        assert body["error"]["message"] == "Give exactly one of email or user_id."
        not_uuid = await client.post("/v1/auth/dev-login", json={"user_id": "nope"})
        assert_error(await not_uuid.json(), "VALIDATION_ERROR", "user_id")
    finally:
        await client.close()


async def test_oversize_body_is_413(client: Client, settings: Settings) -> None:
    response = await client.post("/v1/auth/logout", data=b"x" * (settings.max_body_bytes + 1))
    assert response.status == 413
    assert_error(await response.json(), "PAYLOAD_TOO_LARGE", "body")


async def test_uncaught_error_is_500_without_internals(app: web.Application) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("SELECT secret FROM internals")

    app.router.add_get("/v1/broken", public(broken))
    client = await start_client(app)
    try:
        response = await client.get("/v1/broken")
        text = await response.text()
        assert response.status == 500
        assert "secret" not in text
        assert "Traceback" not in text
        assert_error(await response.json(), "INTERNAL_ERROR")
    finally:
        await client.close()


async def test_cors_only_for_configured_origins(settings: Settings) -> None:
    from umbrella.app import create_app

    spa = "https://app.umbrella.test"
    client = await start_client(create_app(settings.model_copy(update={"cors_origins": [spa]})))
    try:
        preflight = await client.options(
            "/v1/auth/session",
            headers={"Origin": spa, "Access-Control-Request-Method": "DELETE"},
        )
        assert preflight.status == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == spa
        assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
        assert "DELETE" in preflight.headers["Access-Control-Allow-Methods"]

        simple = await client.get("/livez", headers={"Origin": spa})
        assert simple.headers["Access-Control-Allow-Origin"] == spa

        stranger = "https://evil.example"
        refused = await client.options(
            "/v1/auth/session",
            headers={"Origin": stranger, "Access-Control-Request-Method": "DELETE"},
        )
        assert refused.status == 403
        assert "Access-Control-Allow-Origin" not in refused.headers
        plain = await client.get("/livez", headers={"Origin": stranger})
        assert "Access-Control-Allow-Origin" not in plain.headers
    finally:
        await client.close()


class _Form(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=5)
    rate: int = Field(default=0, ge=0, le=10)
    tags: list[str] = Field(default_factory=list, max_length=2)


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "name", "This field is required."),
        ({"name": ""}, "name", "This field must not be empty."),
        ({"name": "abcdef"}, "name", "At most 5 characters."),
        ({"name": "a", "rate": -1}, "rate", "Must be at least 0."),
        ({"name": "a", "rate": 11}, "rate", "Must be at most 10."),
        ({"name": "a", "tags": ["x", "y", "z"]}, "tags", "At most 2 items."),
        ({"name": "a", "extra": 1}, "extra", "This field is not allowed."),
    ],
)
def test_validation_errors_name_the_field_in_plain_words(
    body: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        _Form.model_validate(body)
    failed = validation_failed(raised.value)
    assert (failed.field, failed.message) == (field, message)
