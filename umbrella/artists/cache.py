"""The profile cache (`profile:{artistId}`, 1 hour, SPEC §5) and its invalidation.

Every change that shows on a profile (update, avatar, track, review, follow) does both:
- `forget_later(...)` inside its transaction: a durable job deletes the key a moment after
  the commit, so a reader that fetched the old row just before the commit and cached it
  just after cannot leave a stale profile, and an unreachable Redis is dealt with by retries;
- `forget(...)` right after the commit, so the change shows at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from uuid import UUID

import orjson
from redis.asyncio import Redis

from umbrella import jobs
from umbrella.core import search_cache
from umbrella.core.cache import REDIS_DOWN_ERRORS
from umbrella.observability.metrics import Metrics
from umbrella.web.envelope import dumps

log = logging.getLogger(__name__)

PROFILE_TTL_SECONDS = 3600
PURGE_JOB = "purge_profile_cache"
# Long enough for a reader racing the commit to have written its copy.
PURGE_DELAY = timedelta(seconds=2)


def profile_key(artist_id: UUID) -> str:
    return f"profile:{artist_id}"


async def read(redis: Redis, metrics: Metrics, artist_id: UUID) -> dict[str, Any] | None:
    """The cached profile, or None on a miss or when Redis is unreachable."""
    try:
        raw = await redis.get(profile_key(artist_id))
    except REDIS_DOWN_ERRORS:
        metrics.cache_requests.labels("profile", "error").inc()
        return None
    metrics.cache_requests.labels("profile", "hit" if raw is not None else "miss").inc()
    if raw is None:
        return None
    cached: dict[str, Any] = orjson.loads(raw)
    return cached


async def store(redis: Redis, artist_id: UUID, profile: dict[str, Any]) -> None:
    """Cache a profile for an hour; Redis being down only costs the next read a query."""
    try:
        await redis.set(profile_key(artist_id), dumps(profile), ex=PROFILE_TTL_SECONDS)
    except REDIS_DOWN_ERRORS:
        log.warning("redis unavailable; profile not cached")


async def forget(redis: Redis, artist_ids: Iterable[UUID]) -> None:
    """Delete cached profiles now (best effort: the job of `forget_later` makes sure)."""
    keys = [profile_key(artist_id) for artist_id in artist_ids]
    if not keys:
        return
    try:
        await redis.delete(*keys)
    except REDIS_DOWN_ERRORS:
        log.warning("redis unavailable; cached profiles will be purged by a job")
    # Searches show the same artist cards: drop the cached ones (never raises).
    await search_cache.forget(redis, kind="artists")


async def forget_later(artist_ids: Iterable[UUID]) -> None:
    """Queue the deletion of cached profiles; call it inside the transaction of the change."""
    ids = sorted({str(artist_id) for artist_id in artist_ids})
    if ids:
        await jobs.enqueue(PURGE_JOB, {"artist_ids": ids}, delay=PURGE_DELAY)


async def purge(redis: Redis, artist_ids: Iterable[str]) -> None:
    """Delete cached profiles; raises while Redis is down, so the job is retried."""
    keys = [f"profile:{artist_id}" for artist_id in artist_ids]
    if keys:
        await redis.delete(*keys)
        # A search cached while the change committed, or a forget lost to an outage.
        await search_cache.purge(redis, kind="artists")
