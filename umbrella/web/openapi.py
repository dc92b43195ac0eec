"""`/v1/openapi.json`: generated from the views' pydantic signatures, plus auth and errors,
names for the operations (web/operation_ids.py) and the headers (web/openapi_headers.py)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web
from aiohttp_pydantic.injectors import _parse_func_signature
from aiohttp_pydantic.oas.pydantic_schema_to_oas import add_or_replace_translater, translater
from aiohttp_pydantic.oas.view import generate_oas
from pydantic import BaseModel

from umbrella import __version__, keys
from umbrella.web.envelope import ErrorEnvelope
from umbrella.web.openapi_headers import (
    declare_headers,
    header_components,
    write_limited_operations,
)
from umbrella.web.operation_ids import operation_id

ERROR_REF = {"$ref": "#/components/schemas/ErrorEnvelope"}
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def schema_to_oas_3_0(schema: dict[str, Any]) -> None:
    """pydantic's JSON Schema as OpenAPI 3.0: `X | None` becomes `nullable`.

    aiohttp-pydantic's own translation fails on an optional model (`anyOf` of a `$ref` and
    null); this one also covers that, as `allOf: [$ref]` (3.0 ignores a `$ref`'s siblings).
    """
    for property_ in (schema.get("properties") or {}).values():
        schema_to_oas_3_0(property_)
    any_of = schema.get("anyOf")
    if any_of is None:
        return
    others = [element for element in any_of if element.get("type") != "null"]
    if len(others) != len(any_of):
        schema["nullable"] = True
        if schema.get("default", ...) is None:
            del schema["default"]
        if len(others) == 1 and "$ref" in others[0]:
            del schema["anyOf"]
            schema["allOf"] = others
        elif len(others) == 1 and "type" in others[0]:
            del schema["anyOf"]
            schema.update({k: v for k, v in others[0].items() if k not in schema})
            if "enum" in schema and None not in schema["enum"]:
                # 3.0.3: `nullable` does not widen an `enum`; null must be one of its values.
                schema["enum"] = [*schema["enum"], None]
        else:
            schema["anyOf"] = others


def build_openapi(app: web.Application) -> dict[str, Any]:
    add_or_replace_translater("3.0.0", schema_to_oas_3_0)
    spec: dict[str, Any] = generate_oas([app], version_spec=__version__, title_spec="Umbrella API")
    settings = app[keys.SETTINGS]
    # Paths start with /v1: the server is the deployment's public address itself.
    spec["servers"] = [{"url": settings.public_base_url}]
    spec["info"]["description"] = (
        "The Umbrella API. Every response is an envelope: `{success, data, meta}` or "
        "`{success: false, error: {code, message, field?}, meta}`."
    )
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    # The same JSON Schema → OpenAPI 3.0 translation aiohttp-pydantic applies to its schemas.
    to_oas = translater(spec["openapi"])
    error_schema = ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
    for sub_schema in error_schema.get("$defs", {}).values():
        to_oas(sub_schema)
    schemas.update(error_schema.pop("$defs", {}))
    to_oas(error_schema)
    schemas["ErrorEnvelope"] = error_schema
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "description": "A session token."},
        "cookie": {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.session_cookie_name,
        },
    }
    components["headers"] = header_components()
    spec["security"] = [{"bearer": []}, {"cookie": []}]
    optional_bodies = _documented_optional_bodies(app, schemas, to_oas)
    _const_to_enum(schemas)
    _time_without_offset(schemas)
    public = _public_operations(app)
    documented = _documented_query_parameters(app)
    write_limited = write_limited_operations(app)
    handlers = dict(_handlers(app))
    for path, item in spec.get("paths", {}).items():
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            operation["operationId"] = operation_id(method, path)
            if "requestBody" in operation:
                operation["requestBody"]["required"] = _body_required(handlers[(path, method)])
            elif (path, method) in optional_bodies:
                operation["requestBody"] = optional_bodies[(path, method)]
            if (path, method) in public:
                operation["security"] = []
            operation.setdefault("parameters", []).extend(documented.get((path, method), []))
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if str(status).startswith(("4", "5")) and not response.get("description"):
                    response["description"] = "Error"
            responses.setdefault(
                "default",
                {"description": "Error", "content": {"application/json": {"schema": ERROR_REF}}},
            )
            declare_headers(path, method, operation, write_limited=(path, method) in write_limited)
    return spec


def _handlers(app: web.Application) -> Iterator[tuple[tuple[str, str], Callable[..., Any]]]:
    """Each (path, method) with the function that handles it: a view's method, or the
    function of a function route (as `generate_oas` finds them)."""
    for route in app.router.routes():
        if route.resource is None:
            continue
        path = route.resource.canonical
        if route.method == "*":
            for method in getattr(route.handler, "allowed_methods", ()):
                yield (path, method.lower()), getattr(route.handler, method.lower())
        else:
            handler = getattr(route.handler, route.method.lower(), route.handler)
            yield (path, route.method.lower()), handler


def _body_required(handler: Callable[..., Any]) -> bool:
    """A body argument without a default must be sent (aiohttp-pydantic answers 400 if not)."""
    first = next(iter(inspect.signature(handler).parameters), "")
    ignored = (first,) if first in ("self", "request") else ()
    _, body_args, _, _, defaults = _parse_func_signature(
        handler, unpack_group=True, ignore_params=ignored
    )
    return any(name not in defaults for name in body_args)


def _const_to_enum(node: Any) -> None:
    """OpenAPI 3.0 has no `const` (pydantic's Literal); a one-value `enum` says the same."""
    if isinstance(node, dict):
        if "const" in node:
            node["enum"] = [node.pop("const")]
        for value in node.values():
            _const_to_enum(value)
    elif isinstance(node, list):
        for item in node:
            _const_to_enum(item)


# What pydantic reads and writes for a `datetime.time`: "21:00", "21:00:00", "21:00:00.5".
_PARTIAL_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$"


def _time_without_offset(node: Any) -> None:
    """pydantic's `format: time` means RFC 3339 `full-time`, which needs an offset ("Z"); our
    times are wall-clock times without one. Say so: `partial-time`, and its pattern."""
    if isinstance(node, dict):
        if node.get("format") == "time":
            node["format"] = "partial-time"
            node.setdefault("pattern", _PARTIAL_TIME)
        for value in node.values():
            _time_without_offset(value)
    elif isinstance(node, list):
        for item in node:
            _time_without_offset(item)


def _public_operations(app: web.Application) -> set[tuple[str, str]]:
    public: set[tuple[str, str]] = set()
    for route in app.router.routes():
        if getattr(route.handler, "public", False) and route.resource is not None:
            methods = HTTP_METHODS if route.method == "*" else (route.method.lower(),)
            public.update((route.resource.canonical, method) for method in methods)
    return public


def _documented_query_parameters(
    app: web.Application,
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Query parameters a view reads itself (names such as `filters[genre]` are no Python
    argument), declared on the view as `query_parameters = {"get": [...]}`."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for route in app.router.routes():
        declared = getattr(route.handler, "query_parameters", None)
        if not declared or route.resource is None:
            continue
        for method, parameters in declared.items():
            found[(route.resource.canonical, method)] = [
                {"in": "query", **parameter} for parameter in parameters
            ]
    return found


def _documented_optional_bodies(
    app: web.Application,
    schemas: dict[str, Any],
    to_oas: Callable[[dict[str, Any]], None],
) -> dict[tuple[str, str], dict[str, Any]]:
    """Bodies a client may leave out, which a view reads itself (`ApiView.optional_body`),
    declared on the view as `optional_bodies = {"post": ApplyIn}`: not required."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for route in app.router.routes():
        declared: dict[str, type[BaseModel]] | None = getattr(
            route.handler, "optional_bodies", None
        )
        if not declared or route.resource is None:
            continue
        for method, model in declared.items():
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for sub_schema in schema.get("$defs", {}).values():
                to_oas(sub_schema)
            schemas.update(schema.pop("$defs", {}))
            to_oas(schema)
            name = schema.get("title", model.__name__)
            schemas[name] = schema
            found[(route.resource.canonical, method)] = {
                "required": False,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}
                },
            }
    return found


def document(app: web.Application) -> dict[str, Any]:
    """The document, built on first use and kept: routes do not change once the app runs.

    Not built at start-up: it takes about half a second of CPU, which every api start (and
    every test app) would pay although few of them are ever asked for it.
    """
    spec = app[keys.OPENAPI]
    if not spec:
        # The empty placeholder create_app made: filled in, never replaced (aiohttp
        # deprecates changing a started app's state).
        spec.update(build_openapi(app))
    return spec


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(document(request.app))
