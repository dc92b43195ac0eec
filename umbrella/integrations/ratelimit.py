"""A rate shared by every process: GCRA in Redis on Redis's clock, with a local fallback.

`acquire()` reserves the next free slot and sleeps until it, so callers are served in
the order they asked and each pays one Redis round trip. Slots are spaced evenly (no
bursts): what a carrier sees is a steady stream.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from umbrella.core.cache import REDIS_DOWN_ERRORS

log = logging.getLogger(__name__)

# The provider counts arrivals, not our grants: slots 5% wider than 1/rate keep rate+1
# requests out of any one of its seconds despite up to ~50 ms of jitter on the way there.
SPACING_MARGIN = 0.05
# After Redis fails, stay on the local limiter this long before asking Redis again, so an
# outage costs one timeout per period, not one per send.
REDIS_RETRY_SECONDS = 5.0

# KEYS[1]: the limiter's key, holding the theoretical arrival time (TAT) in microseconds
# of Redis's clock. ARGV[1]: slot spacing in microseconds. Returns how many microseconds
# the caller waits for the slot it has just reserved.
_RESERVE = """
local interval = tonumber(ARGV[1])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then
  tat = now
end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', next_tat),
           'PX', math.floor((next_tat - now) / 1000) + 1000)
return tat - now
"""

_DEGRADED_ERRORS: tuple[type[Exception], ...] = (*REDIS_DOWN_ERRORS, RedisError)


class RateLimiter(Protocol):
    async def acquire(self) -> None:
        """Wait until one more call fits the rate."""
        ...


def slot_interval(rate_per_second: float) -> float:
    """Seconds between two slots at this rate, margin included."""
    if rate_per_second <= 0:
        raise ValueError("rate_per_second must be positive")
    return (1.0 + SPACING_MARGIN) / rate_per_second


class LocalRateLimiter:
    """The same schedule as the shared limiter, for this process alone (monotonic clock)."""

    def __init__(self, rate_per_second: float) -> None:
        self._interval = slot_interval(rate_per_second)
        self._next_free = 0.0

    def reserve(self) -> float:
        """Take the next free slot; return the seconds to wait for it."""
        now = time.monotonic()
        slot = max(self._next_free, now)
        self._next_free = slot + self._interval
        return slot - now

    async def acquire(self) -> None:
        """Wait until this process may make one more call."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


class SharedRateLimiter:
    """At most `rate_per_second` acquisitions per second across every process using `key`.

    Redis's clock decides, so workers on different machines agree. When Redis is
    unreachable each process limits itself to the same rate (sending degrades to
    N x rate for N workers, it never stops) and one warning is logged per outage.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        key: str,
        rate_per_second: float,
        redis_retry_seconds: float = REDIS_RETRY_SECONDS,
    ) -> None:
        self.key = key
        self._interval_us = math.ceil(slot_interval(rate_per_second) * 1_000_000)
        self._script = redis.register_script(_RESERVE)
        self._local = LocalRateLimiter(rate_per_second)
        self._redis_retry_seconds = redis_retry_seconds
        self._skip_redis_until = 0.0
        self._degraded = False

    @property
    def degraded(self) -> bool:
        """True while Redis is unreachable and this process limits itself alone."""
        return self._degraded

    async def acquire(self) -> None:
        """Wait until one more call fits the shared rate."""
        delay = await self._reserve()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _reserve(self) -> float:
        if time.monotonic() >= self._skip_redis_until:
            try:
                waited_us = await self._script(keys=[self.key], args=[self._interval_us])
            except _DEGRADED_ERRORS as error:
                self._skip_redis_until = time.monotonic() + self._redis_retry_seconds
                if not self._degraded:
                    self._degraded = True
                    log.warning(
                        "rate limiter falling back to this process alone: Redis unreachable",
                        extra={"limiter": self.key, "error": type(error).__name__},
                    )
            else:
                if self._degraded:
                    self._degraded = False
                    log.info("rate limiter shared through Redis again", extra={"limiter": self.key})
                return int(waited_us) / 1_000_000
        return self._local.reserve()
