"""Who the client is (its IP address) and a per-IP limit on requests in a fixed window.

Counters live in Redis (`ratelimit:{scope}:{ip}:{window}`, INCR + EXPIRE in one pipeline),
so every replica shares them. When Redis is unreachable the limiter counts in this process
instead: the limit still holds per replica, it never fails open and never answers 503.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from dataclasses import dataclass, field

from aiohttp import web
from redis.asyncio import Redis

from umbrella import keys
from umbrella.config import Settings
from umbrella.core.cache import REDIS_DOWN_ERRORS
from umbrella.observability.metrics import Metrics
from umbrella.web.errors import RateLimited

log = logging.getLogger(__name__)

WINDOW_SECONDS = 60
AUTH_SCOPE = "auth"
UNKNOWN_CLIENT = "unknown"


def client_ip(request: web.Request, *, trusted_proxy_hops: int) -> str:
    """The caller's IP: the Nth `X-Forwarded-For` address from the right behind N proxies.

    With no trusted proxy the header is ignored (anyone can send it) and the peer counts.
    Each trusted proxy appends the address it received the request from, so the Nth from
    the right was written by our outermost proxy; what is left of it the client may forge.
    """
    peer = _normalised(request.remote) or UNKNOWN_CLIENT
    if trusted_proxy_hops <= 0:
        return peer
    forwarded = ",".join(request.headers.getall("X-Forwarded-For", []))
    addresses = [part.strip() for part in forwarded.split(",") if part.strip()]
    if len(addresses) < trusted_proxy_hops:
        return peer
    return _normalised(addresses[-trusted_proxy_hops]) or peer


def visitor(request: web.Request) -> str:
    """Who counts as one visitor (profile views, plays): the user, else a hash of the IP."""
    session = request.get(keys.SESSION)
    if session is not None:
        return f"u:{session.user_id}"
    ip = client_ip(request, trusted_proxy_hops=request.app[keys.SETTINGS].trusted_proxy_hops)
    return "ip:" + hashlib.sha256(ip.encode()).hexdigest()[:24]


def _normalised(address: str | None) -> str | None:
    """The canonical text of an IP address, or None for anything that is not one."""
    if not address:
        return None
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None


@dataclass
class FixedWindowLimiter:
    """At most `limit` requests per key in each `window_seconds` window (aligned on the clock)."""

    scope: str
    limit: int
    window_seconds: int = WINDOW_SECONDS
    message: str = "Too many requests. Try again later."
    # The fallback while Redis is down: (key, window) -> count, for this process only.
    _local: dict[tuple[str, int], int] = field(default_factory=dict, repr=False)

    async def hit(self, redis: Redis, *, key: str, metrics: Metrics | None = None) -> None:
        """Count one request for `key`; raise `RateLimited` with `Retry-After` past the limit."""
        now = time.time()
        window = int(now // self.window_seconds)
        try:
            count = await self._count_in_redis(redis, key, window)
        except REDIS_DOWN_ERRORS:
            if metrics is not None:
                metrics.cache_requests.labels("ratelimit", "error").inc()
            log.warning("redis unavailable; rate limit counted in this process")
            count = self._count_locally(key, window)
        if count > self.limit:
            retry_after = math.ceil((window + 1) * self.window_seconds - now)
            raise RateLimited(self.message, retry_after_seconds=retry_after)

    async def _count_in_redis(self, redis: Redis, key: str, window: int) -> int:
        redis_key = f"ratelimit:{self.scope}:{key}:{window}"
        async with redis.pipeline(transaction=True) as pipe:
            pipe.incr(redis_key)
            # A little past the window's end, so a slow clock on another replica still counts.
            pipe.expire(redis_key, self.window_seconds + 5)
            count, _ = await pipe.execute()
        return int(count)

    def _count_locally(self, key: str, window: int) -> int:
        # Older windows can never matter again: drop them so memory stays bounded.
        for stale in [k for k in self._local if k[1] < window]:
            del self._local[stale]
        count = self._local.get((key, window), 0) + 1
        self._local[(key, window)] = count
        return count


def sign_in_limiter(settings: Settings) -> FixedWindowLimiter:
    """The per-IP limit of sign-in routes; one per app, so its fallback counters live on."""
    return FixedWindowLimiter(
        scope=AUTH_SCOPE,
        limit=settings.auth_rate_limit_per_minute,
        message="Too many sign-in attempts from your network. Try again in a minute.",
    )


async def limit_sign_in(request: web.Request) -> None:
    """Count a sign-in request against its client IP (`auth_rate_limit_per_minute`)."""
    settings = request.config_dict[keys.SETTINGS]
    ip = client_ip(request, trusted_proxy_hops=settings.trusted_proxy_hops)
    await request.config_dict[keys.SIGN_IN_LIMITER].hit(
        request.config_dict[keys.REDIS], key=ip, metrics=request.config_dict[keys.METRICS]
    )
