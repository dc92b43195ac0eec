"""What every bench scenario shares: minted sessions, the context, target picking.

Sessions are minted straight into `sessions` (SHA-256 of the token, as the api stores
them) by `SessionMinter`: a bench-only helper, so the api needs no backdoor. They live one
hour and are revoked (Postgres and the Redis cache) when the bench ends.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import aiohttp
import asyncpg
from multidict import CIMultiDict
from redis.asyncio import Redis

from umbrella_bench.load import RequestSpec

BENCH_USER_AGENT = "umbrella bench"
SESSION_LIFETIME = timedelta(hours=1)


class BenchSetupError(RuntimeError):
    """The database has nothing to build a scenario from (or a setup request failed)."""


def hash_token(token: str) -> str:
    # The api's SessionStore stores exactly this (umbrella/accounts/service.py).
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class SessionMinter:
    """Opens sessions for sampled users directly in Postgres; revokes them all at the end."""

    pool: asyncpg.Pool
    tokens: dict[UUID, str] = field(default_factory=dict)

    async def tokens_for(self, user_ids: Sequence[UUID]) -> dict[UUID, str]:
        """A bearer token for each user (one session per user per run)."""
        missing = [user_id for user_id in dict.fromkeys(user_ids) if user_id not in self.tokens]
        if missing:
            now = datetime.now(UTC)
            fresh = {user_id: secrets.token_urlsafe(32) for user_id in missing}
            await self.pool.executemany(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, user_agent)"
                " VALUES ($1, $2, $3, $4, $5)",
                [
                    (hash_token(token), user_id, now, now + SESSION_LIFETIME, BENCH_USER_AGENT)
                    for user_id, token in fresh.items()
                ],
            )
            self.tokens.update(fresh)
        return {user_id: self.tokens[user_id] for user_id in user_ids}

    async def revoke_all(self, redis: Redis | None) -> None:
        """Revoke every minted session, also from the api's Redis cache of sessions."""
        hashes = [hash_token(token) for token in self.tokens.values()]
        if not hashes:
            return
        await self.pool.execute(
            "UPDATE sessions SET revoked_at = now() WHERE token_hash = ANY($1::text[])", hashes
        )
        if redis is not None:
            await redis.delete(*[f"session:{token_hash}" for token_hash in hashes])
        self.tokens.clear()


def bearer(token: str, **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **more}


JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass
class BenchContext:
    """What scenario builders share: the api's URL, Postgres, Redis and a setup client."""

    base_url: str
    pool: asyncpg.Pool
    http: aiohttp.ClientSession
    minter: SessionMinter
    redis: Redis | None = None
    planned: int = 0  # requests the next run sends (warm-up included): sizes unique lists

    def url(self, path: str, query: dict[str, Any] | list[tuple[str, Any]] | None = None) -> str:
        return f"{self.base_url}{path}" + (f"?{urlencode(query)}" if query else "")

    async def setup_request(
        self, method: str, path_or_url: str, *, token: str, body: Any = None, **headers: str
    ) -> tuple[int, CIMultiDict[str], Any]:
        """One unmeasured request; returns status, headers and the decoded JSON body."""
        url = path_or_url if path_or_url.startswith("http") else self.url(path_or_url)
        data = None if body is None else json.dumps(body).encode()
        all_headers = bearer(token, **headers) | (JSON_HEADERS if data else {})
        async with self.http.request(method, url, headers=all_headers, data=data) as response:
            payload = await response.json(content_type=None) if response.status != 304 else None
            return response.status, CIMultiDict(response.headers), payload


@dataclass
class Scenario:
    name: str
    description: str
    specs: list[RequestSpec]
    notes: list[str] = field(default_factory=list)


Builder = Callable[[BenchContext], Awaitable[Scenario]]


# -- target picking ----------------------------------------------------------------------


async def public_artists(ctx: BenchContext, limit: int) -> list[UUID]:
    """Artists whose profile is public (onboarding complete), in random order."""
    rows = await ctx.pool.fetch(
        "SELECT a.id FROM artists a JOIN users u ON u.id = a.user_id"
        " WHERE u.onboarding_complete ORDER BY random() LIMIT $1",
        limit,
    )
    if not rows:
        raise BenchSetupError("no artist with a public profile: load a dataset or the demo seed")
    return [row["id"] for row in rows]


async def artist_users(ctx: BenchContext, limit: int) -> list[UUID]:
    """Users of onboarded artists (they may browse gigs, apply and search), random order."""
    rows = await ctx.pool.fetch(
        "SELECT u.id FROM users u JOIN artists a ON a.user_id = u.id"
        " WHERE u.onboarding_complete AND u.role = 'artist' ORDER BY random() LIMIT $1",
        limit,
    )
    if not rows:
        raise BenchSetupError("no onboarded artist user")
    return [row["id"] for row in rows]


async def user_tokens(ctx: BenchContext, user_ids: Sequence[UUID]) -> list[str]:
    """A bearer token for each user, in their order."""
    tokens = await ctx.minter.tokens_for(user_ids)
    return [tokens[user_id] for user_id in user_ids]


def planned_requests(ctx: BenchContext, fallback: int = 1000) -> int:
    """How many requests the next run sends (to size lists of unique targets)."""
    return ctx.planned or fallback
