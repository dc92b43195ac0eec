"""The search cache (`search:{query}:{hash}`, 15 minutes, SPEC §5) and its invalidation.

Invalidation by generation: each kind (artists, gigs) has a generation token in Redis
(`search_generation:{kind}`), and the hash of every cached search covers the tokens of the
kinds it shows. `forget(kind=...)` replaces the token, so every search that could hold that
kind is missed from then on and its stale copy expires unread; no key listing, no SCAN.

It sits in core, below the domains: artists and gigs drop their kind on a write, and the
search domain above them reads and fills the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import Sequence
from typing import Any, Literal

import orjson
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.exceptions import RedisError

from umbrella.core.cache import REDIS_DOWN_ERRORS

log = logging.getLogger(__name__)

SEARCH_TTL_SECONDS = 15 * 60
CACHE_NAME = "search"  # the `cache` label of umbrella_cache_requests_total
Kind = Literal["artists", "gigs"]
KINDS: tuple[Kind, ...] = ("artists", "gigs")
# Anything Redis may raise: a committed change must never fail because its cache could not
# be dropped.
_ERRORS: tuple[type[Exception], ...] = (*REDIS_DOWN_ERRORS, RedisError)


def normalise(query: str) -> str:
    """The query as the cache and the database see it: trimmed, lower case, single spaces."""
    return " ".join(query.split()).lower()


def generation_key(kind: Kind) -> str:
    return f"search_generation:{kind}"


def search_key(query: str, params: dict[str, Any], generations: dict[str, str]) -> str:
    """`search:{query}:{hash}`, hashing query, type, filters, cursor, limit and generations."""
    material = json.dumps(
        {"query": normalise(query), "params": params, "generations": generations},
        sort_keys=True,
        separators=(",", ":"),
    )
    digest = hashlib.sha256(material.encode()).hexdigest()[:32]
    return f"search:{normalise(query)}:{digest}"


async def read(
    redis: Redis,
    requests: Counter,
    *,
    query: str,
    kinds: Sequence[Kind],
    params: dict[str, Any],
) -> tuple[str | None, dict[str, Any] | None]:
    """(key, cached page): the page is None on a miss, both are None when Redis is down.

    `requests` counts hits, misses and errors (Metrics.cache_requests, labelled cache, result).
    """
    try:
        tokens = await redis.mget([generation_key(kind) for kind in kinds])
        generations: dict[str, str] = {
            kind: token.decode() if isinstance(token, bytes) else "0"
            for kind, token in zip(kinds, tokens, strict=True)
        }
        key = search_key(query, params, generations)
        raw = await redis.get(key)
    except _ERRORS:
        requests.labels(CACHE_NAME, "error").inc()
        log.debug("redis unavailable; searching without the cache")
        return None, None
    requests.labels(CACHE_NAME, "hit" if raw is not None else "miss").inc()
    if raw is None:
        return key, None
    page: dict[str, Any] = orjson.loads(raw)
    return key, page


async def store(redis: Redis, key: str, page: str) -> None:
    """Cache an encoded page for 15 minutes; Redis being down only costs the next search a query."""
    try:
        await redis.set(key, page, ex=SEARCH_TTL_SECONDS)
    except _ERRORS:
        log.warning("redis unavailable; search results not cached")


async def purge(redis: Redis, *, kind: Kind) -> None:
    """Start a new generation of `kind`; raises while Redis is down (for retried jobs)."""
    # A random token, not a counter: a counter lost with Redis could count back up to a
    # generation whose entries are still cached.
    await redis.set(generation_key(kind), secrets.token_hex(8))


async def forget(redis: Redis, *, kind: Literal["artists", "gigs"]) -> None:
    """Drop every cached search that could contain `kind`; never raises (Redis down: logged)."""
    try:
        await purge(redis, kind=kind)
    except _ERRORS:
        # Stale results then live out their 15 minutes at most.
        log.warning("redis unavailable; cached searches expire on their own", extra={"kind": kind})
