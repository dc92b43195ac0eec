"""A browser's walk through sign-in, by hand: login → the fake provider → our callback."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient
from yarl import URL

from tests.fakes.oidc import parse_form_post
from umbrella.accounts.tables import OAuthState, Session, User

Client = TestClient[web.Request, web.Application]


@dataclass
class Callback:
    """Where the provider sends the browser back: a GET (Google) or a form POST (Apple)."""

    provider: str
    path: str
    form: dict[str, str] | None = None

    @property
    def state(self) -> str:
        if self.form is not None:
            return self.form["state"]
        return URL(self.path).query["state"]

    async def send(
        self, client: Client, *, headers: dict[str, str] | None = None
    ) -> aiohttp.ClientResponse:
        if self.form is not None:
            return await client.post(
                self.path, data=self.form, allow_redirects=False, headers=headers
            )
        return await client.get(self.path, allow_redirects=False, headers=headers)


async def start(client: Client, provider: str) -> str:
    """Open the login link; the provider's authorization URL it redirects to."""
    response = await client.get(f"/v1/auth/login/{provider}", allow_redirects=False)
    assert response.status == 302, await response.text()
    return response.headers["Location"]


async def authorize(authorization_url: str, provider: str) -> Callback:
    """Sign in at the fake provider; where it sends the browser back."""
    async with aiohttp.ClientSession() as browser:
        response = await browser.get(authorization_url, allow_redirects=False)
        if response.status == 302:
            return Callback(provider, URL(response.headers["Location"]).path_qs)
        assert response.status == 200, await response.text()
        form = parse_form_post(await response.text())
        return Callback(provider, f"/v1/auth/callback/{provider}", form)


async def callback_for(client: Client, provider: str) -> Callback:
    """Login and the provider's page: the callback is the only step left."""
    return await authorize(await start(client, provider), provider)


async def sign_in(client: Client, provider: str = "google") -> aiohttp.ClientResponse:
    """The whole round trip; the callback's response."""
    callback = await callback_for(client, provider)
    return await callback.send(client)


async def counts() -> tuple[int, int]:
    """(users, sessions) in the database."""
    return await User.count(), await Session.count()


async def states() -> int:
    """Sign-in attempts in flight."""
    count: int = await OAuthState.count()
    return count


async def away_from_window_edge(window_seconds: int = 60, margin: float = 5.0) -> None:
    """Wait for the next rate-limit window when this one is about to end (no test straddles)."""
    left = window_seconds - time.time() % window_seconds
    if left < margin:
        await asyncio.sleep(left + 0.1)
