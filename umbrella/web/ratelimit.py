"""Who the client is (its IP address) and fixed-window limits: sign-in per IP, writes per
IP and per user, upload URLs and contact imports per user (docs/limits.md).

Counters live in Redis (`ratelimit:{scope}:{key}:{window}`, INCR + EXPIRE in one pipeline
for every limit a request counts against), so every replica shares them. When Redis is
unreachable the limiter counts in this process instead: the limit still holds per replica,
it never fails open and never answers 503.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler
from redis.asyncio import Redis

from umbrella import keys
from umbrella.config import Settings
from umbrella.core.cache import REDIS_DOWN_ERRORS
from umbrella.core.errors import AppError, RateLimited
from umbrella.observability.metrics import Metrics
from umbrella.web.sessions import SESSION

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
    session = request.get(SESSION)
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


@dataclass(frozen=True)
class Quota:
    """Where one key stands in its window: what the `RateLimit-*` headers (IETF draft) say."""

    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }


@dataclass
class FixedWindowLimiter:
    """At most `limit` requests per key in each `window_seconds` window (aligned on the clock)."""

    scope: str
    limit: int
    window_seconds: int = WINDOW_SECONDS
    message: str = "Too many requests. Try again later."
    # The fallback while Redis is down: (key, window) -> count, for this process only.
    _local: dict[tuple[str, int], int] = field(default_factory=dict, repr=False)

    async def hit(self, redis: Redis, *, key: str, metrics: Metrics | None = None) -> Quota:
        """Count one request for `key`; raise `RateLimited` with `Retry-After` past the limit."""
        return await hit_all(redis, [(self, key)], metrics=metrics)

    def _redis_key(self, key: str, window: int) -> str:
        return f"ratelimit:{self.scope}:{key}:{window}"

    def _count_locally(self, key: str, window: int) -> int:
        # Older windows can never matter again: drop them so memory stays bounded.
        for stale in [k for k in self._local if k[1] < window]:
            del self._local[stale]
        count = self._local.get((key, window), 0) + 1
        self._local[(key, window)] = count
        return count


async def hit_all(
    redis: Redis,
    hits: Sequence[tuple[FixedWindowLimiter, str]],
    *,
    metrics: Metrics | None = None,
) -> Quota:
    """Count one request against every (limiter, key) in one Redis round trip.

    Past any limit: `RateLimited`, waiting for the last of the exceeded windows to end.
    Otherwise the quota closest to running out, for the response's `RateLimit-*` headers.
    """
    now = time.time()
    windows = [int(now // limiter.window_seconds) for limiter, _ in hits]
    try:
        counts = await _count_in_redis(redis, hits, windows)
    except REDIS_DOWN_ERRORS:
        if metrics is not None:
            metrics.cache_requests.labels("ratelimit", "error").inc()
        log.warning("redis unavailable; rate limit counted in this process")
        counts = [
            limiter._count_locally(key, window)
            for (limiter, key), window in zip(hits, windows, strict=True)
        ]
    quotas: list[Quota] = []
    refusal: tuple[int, FixedWindowLimiter] | None = None
    for (limiter, _), window, count in zip(hits, windows, counts, strict=True):
        reset = max(1, math.ceil((window + 1) * limiter.window_seconds - now))
        quotas.append(Quota(limiter.limit, max(0, limiter.limit - count), reset))
        if count > limiter.limit and (refusal is None or reset > refusal[0]):
            refusal = (reset, limiter)
    if refusal is not None:
        retry_after, limiter = refusal
        error = RateLimited(limiter.message, retry_after_seconds=retry_after)
        error.headers.update(Quota(limiter.limit, 0, retry_after).headers())
        log.info("rate limited", extra={"limit": limiter.scope, "retry_after": retry_after})
        raise error
    tightest = quotas[0]
    for quota in quotas[1:]:
        tightest = _tighter(tightest, quota)
    return tightest


async def _count_in_redis(
    redis: Redis, hits: Sequence[tuple[FixedWindowLimiter, str]], windows: list[int]
) -> list[int]:
    async with redis.pipeline(transaction=True) as pipe:
        for (limiter, key), window in zip(hits, windows, strict=True):
            pipe.incr(limiter._redis_key(key, window))
            # A little past the window's end, so a slow clock on another replica still counts.
            pipe.expire(limiter._redis_key(key, window), limiter.window_seconds + 5)
        replies = await pipe.execute()
    return [int(count) for count in replies[::2]]


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
    await request.config_dict[SIGN_IN_LIMITER].hit(
        request.config_dict[keys.REDIS], key=ip, metrics=request.config_dict[keys.METRICS]
    )


# -- abuse limits: writes per user and per IP, upload URLs and contact imports per user ------

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Providers call these from a handful of addresses on behalf of many people: never limited.
EXEMPT_PATH_PREFIXES = ("/v1/webhooks/",)
# Names a view lists in `rate_limits` to be counted against more than the write limits.
UPLOAD_URLS = "upload_urls"
CONTACT_IMPORTS = "contact_imports"
HOUR_SECONDS = 3600


@dataclass
class AbuseLimits:
    """The limiters of writes, one set per app so their in-process fallback counters live on."""

    write_per_user: FixedWindowLimiter
    write_per_ip: FixedWindowLimiter
    # Per signed-in user, by the name a view lists in its `rate_limits`.
    named: dict[str, tuple[FixedWindowLimiter, ...]]


SIGN_IN_LIMITER = web.AppKey("sign_in_limiter", FixedWindowLimiter)
ABUSE_LIMITS = web.AppKey("abuse_limits", AbuseLimits)
# Where the request stands against the write limits it counted against (RateLimit-* headers)
WRITE_QUOTA = web.RequestKey("write_quota", Quota)


def abuse_limits(settings: Settings) -> AbuseLimits:
    """The write, upload URL and contact import limits of `settings`."""
    uploads = "You've started a lot of uploads. Wait a little, then try again."
    return AbuseLimits(
        write_per_user=FixedWindowLimiter(
            scope="write-user",
            limit=settings.write_rate_limit_per_minute,
            message="You're making changes too quickly. Wait a moment, then try again.",
        ),
        write_per_ip=FixedWindowLimiter(
            scope="write-ip",
            limit=settings.write_rate_limit_per_ip_per_minute,
            message="Too many changes from your network. Wait a moment, then try again.",
        ),
        named={
            UPLOAD_URLS: (
                FixedWindowLimiter(
                    scope="uploads-minute",
                    limit=settings.upload_rate_limit_per_minute,
                    message=uploads,
                ),
                FixedWindowLimiter(
                    scope="uploads-hour",
                    limit=settings.upload_rate_limit_per_hour,
                    window_seconds=HOUR_SECONDS,
                    message=uploads,
                ),
            ),
            CONTACT_IMPORTS: (
                FixedWindowLimiter(
                    scope="contact-imports",
                    limit=settings.contact_import_rate_limit_per_hour,
                    window_seconds=HOUR_SECONDS,
                    message=(
                        f"At most {settings.contact_import_rate_limit_per_hour} contact imports "
                        "an hour. Try again later."
                    ),
                ),
            ),
        },
    )


def _write_limited(request: web.Request) -> bool:
    if request.method not in WRITE_METHODS or not request.path.startswith("/v1/"):
        return False  # reads, health probes and /metrics
    if request.path.startswith(EXEMPT_PATH_PREFIXES):
        return False
    return not getattr(request.match_info.handler, "rate_limit_exempt", False)


def _tighter(one: Quota | None, other: Quota) -> Quota:
    """The quota closest to running out (the one a client should pace itself by)."""
    if one is None:
        return other
    return min(one, other, key=lambda quota: (quota.remaining, -quota.reset_seconds))


@web.middleware
async def ip_write_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count each write per client IP, before authentication, so refused callers count too.

    Responses of counted requests carry `RateLimit-Limit/-Remaining/-Reset` of the tightest
    limit the request counted against (this one or `user_write_limit_middleware`'s).
    """
    if not _write_limited(request):
        return await handler(request)
    config = request.config_dict
    ip = client_ip(request, trusted_proxy_hops=config[keys.SETTINGS].trusted_proxy_hops)
    limiter = config[ABUSE_LIMITS].write_per_ip
    request[WRITE_QUOTA] = await limiter.hit(
        config[keys.REDIS], key=ip, metrics=config[keys.METRICS]
    )
    try:
        response = await handler(request)
    except AppError as error:
        for name, value in request[WRITE_QUOTA].headers().items():
            error.headers.setdefault(name, value)  # a 429 of its own keeps its numbers
        raise
    if not response.prepared:
        for name, value in request[WRITE_QUOTA].headers().items():
            response.headers.setdefault(name, value)
    return response


@web.middleware
async def user_write_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count each write of a signed-in user, and against the view's `rate_limits` too.

    It runs once the session is known; a refused write reaches no view.
    """
    session = request.get(SESSION)
    if session is None or not _write_limited(request):
        return await handler(request)
    limits = request.config_dict[ABUSE_LIMITS]
    user = str(session.user_id)
    hits = [(limits.write_per_user, user)]
    for name in getattr(request.match_info.handler, "rate_limits", ()):
        hits.extend((limiter, user) for limiter in limits.named[name])
    quota = await hit_all(
        request.config_dict[keys.REDIS], hits, metrics=request.config_dict[keys.METRICS]
    )
    request[WRITE_QUOTA] = _tighter(request.get(WRITE_QUOTA), quota)
    return await handler(request)
