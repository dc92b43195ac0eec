"""Keyset pagination with signed cursors: no repeats, no gaps, no tampering."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from aiohttp import web
from aiohttp.typedefs import Handler

from tests.conftest import start_client
from tests.factories import make_user
from umbrella import keys
from umbrella.accounts.tables import User
from umbrella.config import Settings
from umbrella.core.pagination import DEFAULT_LIMIT, Cursors
from umbrella.core.signing import BadSignature, Signer
from umbrella.web.envelope import ok
from umbrella.web.views import public


def user_listing(settings: Settings) -> Handler:
    """A list endpoint written the way every list of the API is: keyset on (created_at, id)."""
    cursors = Cursors(settings, "users")

    async def handler(request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", DEFAULT_LIMIT))
        after = cursors.decode(request.query.get("cursor"))
        query = User.select(User.id, User.created_at).order_by(User.created_at, User.id)
        if after is not None:
            at = datetime.fromisoformat(after["created_at"])
            query = query.where(
                (User.created_at > at) | ((User.created_at == at) & (User.id > UUID(after["id"])))
            )
        rows = await query.limit(limit + 1)
        next_cursor = cursors.next_cursor(
            rows, limit, lambda row: {"created_at": row["created_at"], "id": row["id"]}
        )
        return ok(request, {"items": rows[:limit], "next_cursor": next_cursor})

    return public(handler)


async def test_scrolling_sees_every_row_once(app: web.Application) -> None:
    app.router.add_get("/v1/test-users", user_listing(app[keys.SETTINGS]))
    client = await start_client(app)
    try:
        created = {str(await make_user()) for _ in range(45)}
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 20} | ({"cursor": cursor} if cursor else {})
            body = await (await client.get("/v1/test-users", params=params)).json()
            seen += [item["id"] for item in body["data"]["items"]]
            pages += 1
            cursor = body["data"]["next_cursor"]
            if cursor is None:
                break
        assert pages == 3
        assert len(seen) == len(set(seen)) == 45
        assert set(seen) == created
    finally:
        await client.close()


async def test_a_tampered_or_foreign_cursor_is_refused(
    app: web.Application, settings: Settings
) -> None:
    app.router.add_get("/v1/test-users", user_listing(settings))
    client = await start_client(app)
    try:
        genuine = Cursors(settings, "users").encode(
            {"created_at": datetime.now(UTC).isoformat(), "id": str(UUID(int=1))}
        )
        body, mac = genuine.split(".")
        tampered = f"{body[:-2]}AA.{mac}"
        foreign = Cursors(settings, "gigs").encode({"created_at": "x", "id": "y"})
        for cursor in (tampered, foreign, "not-a-cursor", "a.b.c"):
            response = await client.get("/v1/test-users", params={"cursor": cursor})
            assert response.status == 400
            error = (await response.json())["error"]
            assert error["code"] == "VALIDATION_ERROR"
            assert error["field"] == "cursor"
    finally:
        await client.close()


def test_signatures_depend_on_the_key_and_the_purpose(settings: Settings) -> None:
    signer = Signer(settings, "unsubscribe")
    token = signer.dumps({"contact_id": "42"})
    assert signer.loads(token) == {"contact_id": "42"}
    with pytest.raises(BadSignature):
        Signer(settings, "cursor:users").loads(token)
    other_key = settings.model_copy(update={"secret_key": settings.secret_key.__class__("x" * 40)})
    with pytest.raises(BadSignature):
        Signer(other_key, "unsubscribe").loads(token)
