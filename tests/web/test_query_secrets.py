"""A credential in a query string (the calendar link's token) never reaches the URL that
tracing and error reports record, while the handler still reads it."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Handler

from umbrella.web.middlewares import HIDDEN, hide_query_secrets_middleware, query_secret


async def test_the_token_is_hidden_from_later_middlewares_but_not_from_the_handler() -> None:
    seen_by_tracing: list[str] = []

    @web.middleware
    async def tracing_stand_in(request: web.Request, handler: Handler) -> web.StreamResponse:
        # where the OpenTelemetry middleware sits: it records request.url
        seen_by_tracing.append(str(request.url))
        return await handler(request)

    async def feed(request: web.Request) -> web.Response:
        return web.json_response(
            {"token": query_secret(request, "token"), "query": dict(request.query)}
        )

    app = web.Application(middlewares=[hide_query_secrets_middleware, tracing_stand_in])
    app.router.add_get("/feed", feed)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/feed", params={"token": "s3cret-value", "week": "2"})
        body = await response.json()
        plain = await (await client.get("/feed", params={"week": "3"})).json()

    assert body == {"token": "s3cret-value", "query": {"token": HIDDEN, "week": "2"}}
    assert "s3cret-value" not in seen_by_tracing[0]
    assert f"token={HIDDEN}" in seen_by_tracing[0]
    assert plain == {"token": None, "query": {"week": "3"}}
