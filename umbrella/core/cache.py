"""Redis (`redis.asyncio`): sessions, caches and counters; every use has a Postgres fallback."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from umbrella.config import Settings, redact_url

log = logging.getLogger(__name__)

# What a call to an unreachable Redis raises; callers catch these and fall back.
REDIS_DOWN_ERRORS: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
)


def client(settings: Settings) -> Redis:
    """A client that gives up fast, so a Redis outage costs a request milliseconds, not seconds."""
    return Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        decode_responses=False,
        health_check_interval=30,
    )


@asynccontextmanager
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    """Connect, check with PING, close on exit."""
    redis_client = client(settings)
    try:
        await redis_client.ping()
        log.info("redis connected", extra={"dsn": redact_url(settings.redis_url)})
        yield redis_client
    finally:
        await redis_client.aclose()


async def first_time(redis: Redis, key: str, *, seconds: int) -> bool:
    """True the first time `key` is seen within `seconds` (counters count a visitor once).

    Raises the REDIS_DOWN_ERRORS: the caller decides whether to count or not.
    """
    return bool(await redis.set(key, b"1", nx=True, ex=seconds))
