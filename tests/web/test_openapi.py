"""`/v1/openapi.json` is a valid OpenAPI 3 document describing every `/v1` route."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from tests.conftest import start_client
from umbrella.app import create_app
from umbrella.config import Environment, Settings

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
