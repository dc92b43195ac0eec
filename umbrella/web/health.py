"""`/livez`, `/readyz`, `/health` and `/metrics`: what Kubernetes and on-call look at."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from umbrella import keys
from umbrella.web.errors import DependencyUnavailable


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

    @property
    def down(self) -> list[str]:
        return [result.name for result in self.results if not result.ok]


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


async def check_dependencies(app: web.Application) -> HealthReport:
    """Reach Postgres, Redis and S3 at once, each bounded by the health timeout."""
    timeout = app[keys.SETTINGS].health_timeout_seconds
    db, redis, storage = app[keys.DB], app[keys.REDIS], app[keys.STORAGE]
    results = await asyncio.gather(
        _timed("postgres", lambda: db.run_ddl("SELECT 1"), timeout),
        _timed("redis", redis.ping, timeout),
        _timed("s3", storage.ping, timeout),
    )
    for result in results:
        app[keys.METRICS].dependency_up.labels(result.name).set(1 if result.ok else 0)
    return HealthReport(results=list(results))


async def livez(request: web.Request) -> web.Response:
    """The process is alive and its event loop answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready for traffic: not shutting down, and Postgres, Redis and S3 all reachable."""
    if request.app[keys.READINESS].draining:
        return web.json_response({"status": "draining"}, status=503)
    report = await check_dependencies(request.app)
    checks = {result.name: "ok" if result.ok else "down" for result in report.results}
    if report.down:
        return web.json_response(
            {"status": "unavailable", "down": report.down, "checks": checks}, status=503
        )
    return web.json_response({"status": "ready", "checks": checks})


async def health(request: web.Request) -> web.Response:
    """Each dependency with its status and latency, for humans and uptime monitors."""
    report = await check_dependencies(request.app)
    dependencies = {
        result.name: {
            "status": "ok" if result.ok else "down",
            "latency_ms": result.latency_ms,
            **({"error": result.error} if result.error else {}),
        }
        for result in report.results
    }
    status = "ok" if not report.down else "degraded"
    return web.json_response(
        {"status": status, "dependencies": dependencies}, status=200 if status == "ok" else 503
    )


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
