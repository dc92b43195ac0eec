"""A small aiohttp server that records what it received and fails on demand.

Each fake (Resend, Twilio, Anthropic, OIDC) subclasses `FakeServer`, adds its routes and
checks credentials the way the real provider does. A test can queue failures with
`fail(kind, times)`: the next `times` requests get that failure instead of an answer.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal, Self

from aiohttp import web

from umbrella.devstack import free_port

FailureKind = Literal["500", "429", "timeout", "malformed"]


@dataclass
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    query: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        from urllib.parse import parse_qs

        return parse_qs(self.body.decode(), keep_blank_values=True)


class FakeServer:
    """Base of every fake: start/stop on a free local port, record requests, inject failures."""

    name = "fake"
    # How long a "timeout" failure holds the request: longer than any client timeout in tests.
    hang_seconds = 30.0

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._failures: deque[FailureKind] = deque()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail(self, kind: FailureKind, times: int = 1) -> None:
        """Answer the next `times` requests with this failure instead of a real answer."""
        self._failures.extend([kind] * times)

    def heal(self) -> None:
        """Forget the failures still queued: the provider answers normally again."""
        self._failures.clear()

    def add_routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def failure_response(self, kind: FailureKind) -> web.Response:
        """The provider's own shape of an error body; fakes override to match their API."""
        status = 429 if kind == "429" else 500
        return web.json_response({"error": {"message": f"injected {kind}"}}, status=status)

    @web.middleware
    async def _record_and_fail(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.path,
                headers=dict(request.headers),
                body=body,
                query=dict(request.query),
            )
        )
        if self._failures:
            kind = self._failures.popleft()
            if kind == "timeout":
                await asyncio.sleep(self.hang_seconds)
                return web.Response(status=504)
            if kind == "malformed":
                return web.Response(
                    status=200, body=b'{"id": "truncated', content_type="application/json"
                )
            response: web.StreamResponse = self.failure_response(kind)
            if kind == "429":
                response.headers["Retry-After"] = "1"
            return response
        result: web.StreamResponse = await handler(request)
        return result

    async def start(self) -> str:
        app = web.Application(middlewares=[self._record_and_fail])
        self.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self.url

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def received(self, path: str, method: str = "POST") -> list[Recorded]:
        """The requests to one path (failed ones included)."""
        return [r for r in self.requests if r.path == path and r.method == method]
