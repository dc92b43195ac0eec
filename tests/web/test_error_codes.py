"""Every domain error reaches the client as the status and code of SPEC §3."""

from __future__ import annotations

import pytest
from aiohttp import web

from tests.conftest import start_client
from umbrella.core import errors
from umbrella.web.views import public

CASES = [
    (errors.ValidationFailed("Too long.", field="stage_name"), 400, "VALIDATION_ERROR"),
    (errors.Unauthorized(), 401, "UNAUTHORIZED"),
    (errors.Forbidden(), 403, "FORBIDDEN"),
    (errors.NotFound(), 404, "NOT_FOUND"),
    (errors.Conflict("Already applied."), 409, "CONFLICT"),
    (errors.PayloadTooLarge(), 413, "PAYLOAD_TOO_LARGE"),
    (errors.QuotaExceeded("Only 1 GB free.", field="size"), 400, "QUOTA_EXCEEDED"),
    (errors.RateLimited(retry_after_seconds=30), 429, "RATE_LIMIT_EXCEEDED"),
    (errors.DependencyUnavailable("claude", "Violet is unavailable."), 503, "SERVICE_UNAVAILABLE"),
    (errors.AppError(), 500, "INTERNAL_ERROR"),
]


@pytest.mark.parametrize(("error", "status", "code"), CASES, ids=[c[2] for c in CASES])
async def test_domain_error_becomes_its_envelope(
    app: web.Application, error: errors.AppError, status: int, code: str
) -> None:
    async def raising(request: web.Request) -> web.Response:
        raise error

    app.router.add_get("/v1/raising", public(raising))
    client = await start_client(app)
    try:
        response = await client.get("/v1/raising")
        body = await response.json()
    finally:
        await client.close()
    assert response.status == status
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert body["error"]["message"] == error.message
    assert body["error"].get("field") == error.field
    for header, value in error.headers.items():
        assert response.headers[header] == value
    if code == "RATE_LIMIT_EXCEEDED":
        assert response.headers["Retry-After"] == "30"


def test_every_spec_code_has_an_exception() -> None:
    spec_codes = {
        "VALIDATION_ERROR", "UNAUTHORIZED", "FORBIDDEN", "NOT_FOUND", "CONFLICT",
        "PAYLOAD_TOO_LARGE", "QUOTA_EXCEEDED", "RATE_LIMIT_EXCEEDED", "INTERNAL_ERROR",
        "SERVICE_UNAVAILABLE",
    }  # fmt: skip
    assert spec_codes <= {code for _, _, code in CASES}
