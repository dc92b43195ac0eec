"""The API and the example web app on ports of their own, as a browser reaches them.

The API listens on 127.0.0.1 and is addressed as `http://localhost:<port>` (its public
base URL), in redirect mode, with Google sign-in at the fake provider and the test
servers' S3. The example page (docs/web-app/) is served by a small static server on two
ports, which gives the test three origins:

- `app`: `http://localhost:<port>`, the web app (the CORS origin and the sign-in redirect);
- `sibling`: `http://localhost:<other port>`, the same site but another origin, not allowed
  (the browser sends the session cookie; the API must refuse its writes by their Origin);
- `foreign`: `http://127.0.0.1:<port>`, another site (the browser withholds the cookie).

Every answer the API gives is recorded (`Seen`), with what the browser sent: the test
counts preflights, 304s and refusals on the server's side.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from redis.asyncio import Redis

from tests.conftest import REPO_ROOT, Servers, create_database, drop_database, make_settings
from tests.fakes.oidc import FakeOidcProvider, use_fake_oidc
from umbrella.config import Settings
from umbrella.devstack import free_port

WEB_APP = REPO_ROOT / "docs" / "web-app"


@dataclass(frozen=True)
class Seen:
    """One answer of the API, and what the browser sent for it."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    origin: str | None
    with_cookie: bool
    if_none_match: str | None
    headers: dict[str, str]
    body: Any

    @property
    def error(self) -> dict[str, Any]:
        error: dict[str, Any] = self.body["error"]
        return error


@dataclass
class WebStack:
    api: str
    app: str
    sibling: str
    foreign: str
    settings: Settings
    oidc: FakeOidcProvider
    seen: list[Seen] = field(default_factory=list)

    def page_url(self, origin: str, **query: str) -> str:
        """The example page at `origin`, told where the API is."""
        extra = "".join(f"&{name}={value}" for name, value in query.items())
        return f"{origin}/?api={self.api}{extra}"

    def requests(
        self, method: str, path: str, *, origin: str | None = None, since: int = 0
    ) -> list[Seen]:
        """The answers to `method path` (from `origin` if given), from index `since` on."""
        return [
            seen
            for seen in self.seen[since:]
            if seen.method == method
            and seen.path == path
            and (origin is None or seen.origin == origin)
        ]


def _recorder(stack: WebStack, cookie_name: str) -> Any:
    async def record(request: web.Request, response: web.StreamResponse) -> None:
        body: Any = None
        if isinstance(response, web.Response) and response.content_type == "application/json":
            body = json.loads(response.body) if isinstance(response.body, bytes) else None
        stack.seen.append(
            Seen(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                status=response.status,
                origin=request.headers.get("Origin"),
                with_cookie=cookie_name in request.cookies,
                if_none_match=request.headers.get("If-None-Match"),
                headers=dict(response.headers),
                body=body,
            )
        )

    return record


async def _example_page(request: web.Request) -> web.FileResponse:
    name = request.match_info.get("name") or "index.html"
    path = WEB_APP / name
    if path.parent != WEB_APP or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Cache-Control": "no-store"})


@asynccontextmanager
async def _runner(app: web.Application, *ports: int) -> AsyncIterator[None]:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    try:
        for port in ports:
            await web.TCPSite(runner, "127.0.0.1", port).start()
        yield
    finally:
        await runner.cleanup()


@asynccontextmanager
async def web_stack(servers: Servers, template_database: str) -> AsyncIterator[WebStack]:
    """The API (own database and bucket) and the example page, for one test module."""
    from umbrella.app import create_app

    api_port, app_port, sibling_port = free_port(), free_port(), free_port()
    api, app = f"http://localhost:{api_port}", f"http://localhost:{app_port}"
    database = await create_database(servers, template=template_database)
    # No sign-in budget (per client IP: 127.0.0.1) spent by this worker's earlier tests.
    redis = Redis.from_url(servers.redis_url)
    await redis.flushdb()
    await redis.aclose()
    try:
        async with FakeOidcProvider() as oidc:
            settings = use_fake_oidc(
                make_settings(
                    servers,
                    database_url=servers.database_url(database),
                    public_base_url=api,
                    cors_origins=[app],
                    auth_redirect_url=app,
                    session_cookie_secure=False,
                ),
                oidc,
            )
            stack = WebStack(
                api=api,
                app=app,
                sibling=f"http://localhost:{sibling_port}",
                foreign=f"http://127.0.0.1:{app_port}",
                settings=settings,
                oidc=oidc,
            )
            api_app = create_app(settings)
            api_app.on_response_prepare.append(_recorder(stack, settings.session_cookie_name))
            pages = web.Application()
            pages.router.add_get("/", _example_page)
            pages.router.add_get("/{name}", _example_page)
            async with _runner(api_app, api_port), _runner(pages, app_port, sibling_port):
                yield stack
    finally:
        await drop_database(servers, database)
