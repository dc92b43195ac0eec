"""Redis (`redis.asyncio`): sessions, caches and counters; every use has a Postgres fallback."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import AuthenticationError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from umbrella.config import Settings, redact_url
from umbrella.core.background import retry_with_backoff, running_beside

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
    dsn = redact_url(settings.redis_url)
    try:
        async with AsyncExitStack() as stack:
            try:
                await redis_client.ping()
            except AuthenticationError:
                raise
            except REDIS_DOWN_ERRORS as error:
                log.warning(
                    "redis unreachable at start; continuing without it",
                    extra={"dsn": dsn, "error": type(error).__name__},
                )
                await stack.enter_async_context(
                    running_beside(
                        retry_with_backoff(
                            lambda: _answers(redis_client, dsn),
                            first_seconds=RETRY_FIRST_SECONDS,
                            max_seconds=RETRY_MAX_SECONDS,
                        )
                    )
                )
            else:
                log.info("redis connected", extra={"dsn": dsn})
            yield redis_client
    finally:
        await redis_client.aclose()


async def _answers(redis_client: Redis, dsn: str) -> bool:
    """PING once: True (and "redis connected" logged) once it answers, or when retrying
    is pointless; False while Redis is unreachable."""
    try:
        await redis_client.ping()
    except AuthenticationError:
        log.error("redis refused our credentials", extra={"dsn": dsn})
    except REDIS_DOWN_ERRORS:
        return False
    except RedisError as error:  # it answers, though not as it should: say so, stop here
        log.error("redis answers with an error", extra={"dsn": dsn, "error": type(error).__name__})
    else:
        log.info("redis connected", extra={"dsn": dsn})
    return True


async def first_time(redis: Redis, key: str, *, seconds: int) -> bool:
    """True the first time `key` is seen within `seconds` (counters count a visitor once).

    Raises the REDIS_DOWN_ERRORS: the caller decides whether to count or not.
    """
    return bool(await redis.set(key, b"1", nx=True, ex=seconds))
