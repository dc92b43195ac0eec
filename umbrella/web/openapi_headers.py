"""The headers `/v1/openapi.json` declares: what a client may read from a response
(`ETag`, `Cache-Control`, `RateLimit-*`, `Retry-After`) and send with a request
(`If-None-Match`).

The rules follow the code that sends them: `Retry-After` on every 429 (`RateLimited`) and
503 (`DependencyUnavailable`), `RateLimit-*` on the answers of the writes the abuse limits
count (web/ratelimit.py), and the few responses that set caching headers of their own.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from umbrella.web.ratelimit import EXEMPT_PATH_PREFIXES, WRITE_METHODS

ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}


def _seconds(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "integer", "minimum": 0}}


def _text(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


# Declared once under components/headers, referenced where they are sent (always: required).
HEADERS: dict[str, dict[str, Any]] = {
    "ETag": _text("A weak validator of this answer: send it back as `If-None-Match`."),
    "Cache-Control": _text("How long, and by whom, the answer may be kept."),
    "RateLimit-Limit": _seconds("Requests allowed in the current window of the tightest limit."),
    "RateLimit-Remaining": _seconds("Requests left in that window."),
    "RateLimit-Reset": _seconds("Seconds until that window ends."),
    "Retry-After": _seconds("Seconds to wait before trying again."),
}
RATE_LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")

IF_NONE_MATCH = {
    "in": "header",
    "name": "If-None-Match",
    "required": False,
    "description": (
        "The `ETag` of the last answer: an unchanged one is answered 304, no body. A browser"
        " sends it itself from its HTTP cache; set by hand in a browser it costs a CORS"
        " preflight per poll."
    ),
    "schema": {"type": "string"},
}

# Responses that set caching headers themselves: (method, path) → status → header names.
CACHING: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    # The inbox poll: its ETag makes polling cheap, `no-cache` makes the client ask each time.
    ("get", "/v1/conversations"): {
        "200": ("ETag", "Cache-Control"),
        "304": ("ETag", "Cache-Control"),
    },
    ("post", "/v1/calendar/token"): {"200": ("Cache-Control",)},
    ("get", "/v1/calendar.ics"): {"200": ("Cache-Control",)},
    ("get", "/v1/analytics/earnings.csv"): {"200": ("Cache-Control",)},
    ("get", "/v1/settings/export"): {"200": ("Cache-Control",)},
    ("get", "/v1/fans/unsubscribe"): {"200": ("Cache-Control",)},
    ("post", "/v1/fans/unsubscribe"): {"200": ("Cache-Control",)},
    ("get", "/v1/alerts/unsubscribe"): {"200": ("Cache-Control",)},
    ("post", "/v1/alerts/unsubscribe"): {"200": ("Cache-Control",)},
}
# Operations that answer 304 to a matching `If-None-Match`.
CONDITIONAL = frozenset({("get", "/v1/conversations")})


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def header_components() -> dict[str, dict[str, Any]]:
    return {name: {**header, "required": True} for name, header in HEADERS.items()}


def write_limited_operations(app: web.Application) -> set[tuple[str, str]]:
    """The (path, method) pairs the write limits count, as `ratelimit._write_limited` decides
    for a request: writes under /v1/, not the webhooks, not a view marked exempt."""
    limited: set[tuple[str, str]] = set()
    for route in app.router.routes():
        resource = route.resource
        if resource is None or not resource.canonical.startswith("/v1/"):
            continue
        if resource.canonical.startswith(EXEMPT_PATH_PREFIXES):
            continue
        if getattr(route.handler, "rate_limit_exempt", False):
            continue
        methods = getattr(route.handler, "allowed_methods", ()) if route.method == "*" else ()
        for method in methods or (route.method,):
            if method in WRITE_METHODS:
                limited.add((resource.canonical, method.lower()))
    return limited


def declare_headers(
    path: str, method: str, operation: dict[str, Any], *, write_limited: bool
) -> None:
    """Add the headers this operation's answers carry, and the 429/503 it may answer."""
    responses: dict[str, Any] = operation["responses"]
    if write_limited:
        responses.setdefault("429", {"description": "Too many requests: see `Retry-After`."})
    responses.setdefault("503", {"description": "A service we depend on is unavailable."})
    for status, response in responses.items():
        names: list[str] = list(CACHING.get((method, path), {}).get(status, ()))
        if status in ("429", "503"):
            response.setdefault("content", ERROR_CONTENT)
            names.append("Retry-After")
        if write_limited and (status.startswith("2") or status == "429"):
            names.extend(RATE_LIMIT_HEADERS)
        if names:
            response.setdefault("headers", {}).update({name: _ref(name) for name in names})
    if (method, path) in CONDITIONAL:
        operation.setdefault("parameters", []).append(IF_NONE_MATCH)
