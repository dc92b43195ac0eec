"""Redis (`redis.asyncio`): sessions, caches and counters; every use has a Postgres fallback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, RedisError
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


# How often a process that started without Redis tries it again, only to say it is back.
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 15.0


@asynccontextmanager
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    """Connect, check with PING, close on exit.

    Redis down at start is not fatal (it degrades speed, never correctness): the client
    reconnects by itself on its next command, and "redis connected" is logged once it
    answers. A refused password is a configuration error, and fatal.
    """
    redis_client = client(settings)
    waiting: asyncio.Task[None] | None = None
    dsn = redact_url(settings.redis_url)
    try:
        try:
            await redis_client.ping()
        except AuthenticationError:
            raise
        except REDIS_DOWN_ERRORS as error:
            log.warning(
                "redis unreachable at start; continuing without it",
                extra={"dsn": dsn, "error": type(error).__name__},
            )
            waiting = asyncio.create_task(_until_connected(redis_client, dsn))
        else:
            log.info("redis connected", extra={"dsn": dsn})
        yield redis_client
    finally:
        if waiting is not None:
            waiting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await waiting
        await redis_client.aclose()


async def _until_connected(redis_client: Redis, dsn: str) -> None:
    """PING with backoff until Redis answers, then log that it did (once)."""
    delay = RETRY_FIRST_SECONDS
    while True:
        await asyncio.sleep(delay)
        try:
            await redis_client.ping()
        except AuthenticationError:
            log.error("redis refused our credentials", extra={"dsn": dsn})
            return
        except REDIS_DOWN_ERRORS:
            delay = min(delay * 2, RETRY_MAX_SECONDS)
            continue
        except RedisError as error:  # it answers, though not as it should: say so, stop here
            log.error(
                "redis answers with an error", extra={"dsn": dsn, "error": type(error).__name__}
            )
            return
        log.info("redis connected", extra={"dsn": dsn})
        return


async def first_time(redis: Redis, key: str, *, seconds: int) -> bool:
    """True the first time `key` is seen within `seconds` (counters count a visitor once).

    Raises the REDIS_DOWN_ERRORS: the caller decides whether to count or not.
    """
    return bool(await redis.set(key, b"1", nx=True, ex=seconds))
