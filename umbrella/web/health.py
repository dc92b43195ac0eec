"""`/livez`, `/readyz`, `/health` and `/metrics`: what Kubernetes and on-call look at.

Readiness needs Postgres only: without Redis the api is slower, without S3 only the calls
that move files answer 503, and neither is fixed by taking every pod out of the Service.
Redis and S3 are reported by `/health` (details to the health token or an in-cluster
caller only) and by `umbrella_dependency_up`, which a background check keeps fresh.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from aiohttp import web

from umbrella import keys
from umbrella.config import Settings
from umbrella.core.background import running_beside
from umbrella.core.errors import DependencyUnavailable

log = logging.getLogger(__name__)

# The background check keeps `umbrella_dependency_up` fresh for alerts when nobody calls.
CHECK_EVERY_SECONDS = 15.0
# Detailed /health callers share one check this recent, so a flood costs the stores nothing.
HEALTH_REUSE_SECONDS = 2.0
# Kubelets of every node probe /readyz: one Postgres ping per second at most, whoever asks.
READY_REUSE_SECONDS = 1.0
# Headers a forwarding proxy adds; their absence is what marks a direct (in-cluster) caller.
FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded")

_T = TypeVar("_T")


@dataclass
class Readiness:
    """Set to draining on SIGTERM so the load balancer stops sending new requests first."""

    draining: bool = False


@dataclass
class CheckResult:
    name: str
    ok: bool
    latency_ms: float
    error: str | None = None


@dataclass
class HealthReport:
    results: list[CheckResult] = field(default_factory=list)
    checked_at: float = field(default_factory=time.monotonic)

    @property
    def down(self) -> list[str]:
        return [result.name for result in self.results if not result.ok]


class SingleFlight(Generic[_T]):
    """One run of `call` at a time for every caller, its answer reused for `fresh_seconds`."""

    def __init__(self, call: Callable[[], Awaitable[_T]], *, fresh_seconds: float) -> None:
        self._call = call
        self.fresh_seconds = fresh_seconds
        self._last: tuple[float, _T] | None = None
        self._running: asyncio.Future[_T] | None = None

    async def get(self) -> _T:
        if self._last is not None and time.monotonic() - self._last[0] < self.fresh_seconds:
            return self._last[1]
        if self._running is None:
            self._running = asyncio.ensure_future(self._run())
        # Shielded: one caller giving up must not cancel the check the others wait for.
        return await asyncio.shield(self._running)

    async def _run(self) -> _T:
        try:
            value = await self._call()
            self._last = (time.monotonic(), value)
            return value
        finally:
            self._running = None


async def _timed(name: str, check: Callable[[], Awaitable[object]], limit: float) -> CheckResult:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(limit):
            await check()
    except Exception as error:  # any failure means "down"; only its kind is reported
        # Report the underlying failure, not the wrapper our clients raise for the API.
        cause = error.__cause__ if isinstance(error, DependencyUnavailable) else None
        root = cause or error
        kind = "timeout" if isinstance(root, TimeoutError) else type(root).__name__
        return CheckResult(name, False, _ms(started), kind)
    return CheckResult(name, True, _ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


class DependencyChecks:
    """Postgres, Redis and S3 as this process last saw them: gauges set, changes logged once."""

    def __init__(
        self,
        app: web.Application,
        *,
        every_seconds: float = CHECK_EVERY_SECONDS,
        reuse_seconds: float = HEALTH_REUSE_SECONDS,
    ) -> None:
        self.every_seconds = every_seconds
        self._app = app
        self._up: dict[str, bool] = {}
        self._all = SingleFlight(self._check_all, fresh_seconds=reuse_seconds)
        self._postgres = SingleFlight(self._check_postgres, fresh_seconds=READY_REUSE_SECONDS)

    async def report(self) -> HealthReport:
        """Every dependency, from a check at most `reuse_seconds` old."""
        return await self._all.get()

    async def postgres(self) -> CheckResult:
        """Postgres alone, from a ping at most READY_REUSE_SECONDS old."""
        return await self._postgres.get()

    @property
    def _timeout(self) -> float:
        return self._app[keys.SETTINGS].health_timeout_seconds

    async def _ping_postgres(self) -> CheckResult:
        db = self._app[keys.DB]
        return await _timed("postgres", lambda: db.run_ddl("SELECT 1"), self._timeout)

    async def _check_postgres(self) -> CheckResult:
        result = await self._ping_postgres()
        self._observe(result)
        return result

    async def _check_all(self) -> HealthReport:
        redis, storage = self._app[keys.REDIS], self._app[keys.STORAGE]
        results = await asyncio.gather(
            self._ping_postgres(),
            _timed("redis", redis.ping, self._timeout),
            _timed("s3", storage.ping, self._timeout),
        )
        for result in results:
            self._observe(result)
        return HealthReport(results=list(results))

    def _observe(self, result: CheckResult) -> None:
        self._app[keys.METRICS].dependency_up.labels(result.name).set(1 if result.ok else 0)
        was_up = self._up.get(result.name)
        self._up[result.name] = result.ok
        if not result.ok and was_up is not False:
            log.warning("dependency down", extra={"dependency": result.name, "error": result.error})
        elif result.ok and was_up is False:
            log.info("dependency recovered", extra={"dependency": result.name})

    async def run(self) -> None:
        """Check everything now and then every `every_seconds`, until cancelled."""
        while True:
            try:
                await self.report()
            except Exception:  # a bug here must not stop the gauges for good; say so, go on
                log.exception("dependency check failed")
            await asyncio.sleep(self.every_seconds)


READINESS = web.AppKey("readiness", Readiness)
HEALTH = web.AppKey("health", DependencyChecks)


async def checks_context(app: web.Application) -> AsyncIterator[None]:
    """The background check, once Postgres, Redis and S3 are on the app."""
    async with running_beside(app[HEALTH].run()):
        yield


def may_see_details(request: web.Request) -> bool:
    """The health token as a bearer token, or a caller inside the cluster.

    In-cluster means: proxies are declared (`trusted_proxy_hops` > 0) and the request
    carries no forwarding header. Each declared proxy adds X-Forwarded-For and a client can
    add headers but never strip one a proxy adds, so only a caller that reached the pod
    without the proxies (a kubelet, Prometheus, a port-forward) has none. With no proxy
    declared a direct caller may be anyone, so only the token counts.
    """
    settings: Settings = request.app[keys.SETTINGS]
    if settings.health_token is not None:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        expected = settings.health_token.get_secret_value().encode()
        if scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), expected):
            return True
    if settings.trusted_proxy_hops <= 0:
        return False
    return not any(header in request.headers for header in FORWARDING_HEADERS)


async def livez(request: web.Request) -> web.Response:
    """The process is alive and its event loop answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready for traffic: not shutting down, and Postgres reachable (Redis and S3 may not be)."""
    if request.app[READINESS].draining:
        return web.json_response({"status": "draining"}, status=503)
    postgres = await request.app[HEALTH].postgres()
    if not postgres.ok:
        return web.json_response({"status": "unavailable"}, status=503)
    return web.json_response({"status": "ready"})


async def health(request: web.Request) -> web.Response:
    """For anyone: the process answers. For the token or in-cluster: each dependency's state."""
    if not may_see_details(request):
        # No dependency call per anonymous request, and nothing about them in the answer.
        return web.json_response({"status": "ok"})
    report = await request.app[HEALTH].report()
    dependencies = {
        result.name: {
            "status": "ok" if result.ok else "down",
            "latency_ms": result.latency_ms,
            **({"error": result.error} if result.error else {}),
        }
        for result in report.results
    }
    status = "ok" if not report.down else "degraded"
    body = {
        "status": status,
        "dependencies": dependencies,
        "age_seconds": round(time.monotonic() - report.checked_at, 1),
    }
    return web.json_response(body, status=200 if status == "ok" else 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus exposition of this process's registry."""
    body = request.app[keys.METRICS].render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/livez", livez, allow_head=True),
        web.get("/readyz", readyz, allow_head=True),
        web.get("/health", health),
        web.get("/metrics", metrics),
    ]
