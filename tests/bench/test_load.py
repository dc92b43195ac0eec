"""The bench's load generator measures what a user would wait, and scenarios run on the app.

Timing bounds are generous on purpose: these tests share a small machine with others.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from umbrella.config import Settings
from umbrella.seed import demo_id, seed_demo
from umbrella_bench import report
from umbrella_bench.context import BenchContext, SessionMinter, hash_token
from umbrella_bench.floor import create_floor_app
from umbrella_bench.load import (
    RequestSpec,
    Sample,
    error_kind,
    percentile,
    run_open_loop,
    saturate,
    summarise,
)
from umbrella_bench.scenarios import poll_idle
from umbrella_bench.scenarios import profile_cached as build_profile_cached

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Start a tiny local server around one handler; returns its URL."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/"

    yield start
    for runner in runners:
        await runner.cleanup()


def sleeping(seconds: float, status: int = 200) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(seconds)
        return web.Response(text="ok", status=status)

    return handler


# -- arithmetic --------------------------------------------------------------------------


def test_percentile_is_nearest_rank_over_all_samples():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7
    assert percentile([1.0, 2.0], 50) == 1
    assert percentile([], 50) is None
    with pytest.raises(ValueError, match="percentile"):
        percentile(values, 0)


def test_error_kinds():
    assert error_kind(200, None) is None
    assert error_kind(304, None) is None
    assert error_kind(500, None) == "http_500"
    assert error_kind(404, None) == "http_404"
    assert error_kind(None, TimeoutError()) == "timeout"
    assert error_kind(None, ConnectionResetError()) == "ConnectionResetError"


def test_summary_leaves_out_the_warm_up_and_counts_completions_in_the_window():
    samples = [
        Sample(scheduled=0.5, sent=0.5, done=0.6, status=200, error=None),  # warm-up
        Sample(scheduled=1.0, sent=1.0, done=1.010, status=200, error=None),
        Sample(scheduled=1.5, sent=1.5, done=1.530, status=500, error="http_500"),
        Sample(scheduled=2.0, sent=2.0, done=2.020, status=200, error=None),
        Sample(scheduled=2.5, sent=2.5, done=3.5, status=200, error=None),  # answered late
        Sample(scheduled=2.9, sent=2.9, done=3.0, status=None, error="timeout"),
    ]
    result = summarise("x", samples, rate=2, warmup=1.0, duration=2.0)
    assert result.count == 5
    assert result.errors == {"http_500": 1, "timeout": 1}
    assert result.error_count == 2
    # Answers completed inside [1, 3): three of them; the late one completed after the end.
    assert result.achieved_rate == pytest.approx(3 / 2)
    # Latencies of the answers (the exception has none): 10, 20, 30, 1000 ms.
    assert result.p50_ms == pytest.approx(20)
    assert result.max_ms == pytest.approx(1000)
    assert report.verdict(result).startswith("FAIL errors")


# -- against a local server --------------------------------------------------------------


async def test_a_steady_server_shows_its_service_time_and_the_target_rate(serve):
    url = await serve(sleeping(0.05))
    result = await run_open_loop(
        "steady", [RequestSpec("GET", url)], rate=20, duration=2.0, warmup=0.5
    )
    assert result.count == 40
    assert result.errors == {}
    assert result.p50_ms is not None
    assert 45 <= result.p50_ms <= 150
    assert 15 <= result.achieved_rate <= 25
    assert result.max_ms is not None
    assert result.p99_ms is not None
    assert result.p50_ms <= result.p95_ms <= result.p99_ms <= result.max_ms  # type: ignore[operator]


async def test_requests_fire_on_schedule_while_earlier_ones_are_still_running(serve):
    # A closed loop of one would send 2 requests in a second; the open loop sends 20.
    url = await serve(sleeping(0.5))
    result = await run_open_loop(
        "slow", [RequestSpec("GET", url)], rate=20, duration=1.0, warmup=0.0
    )
    assert result.count == 20
    assert max(s.sent - s.scheduled for s in result.samples) < 0.2
    assert result.p50_ms is not None
    assert 450 <= result.p50_ms <= 1000


async def test_a_server_that_falls_behind_shows_growing_latency(serve):
    lock = asyncio.Lock()

    async def one_at_a_time(request: web.Request) -> web.Response:
        async with lock:
            await asyncio.sleep(0.05)
        return web.Response(text="ok")

    url = await serve(one_at_a_time)
    # 40/s offered, 20/s served: the queue grows by 20 requests (1 s of work) per second.
    result = await run_open_loop(
        "queue", [RequestSpec("GET", url)], rate=40, duration=1.5, warmup=0.0
    )
    ordered = sorted(result.samples, key=lambda s: s.scheduled)
    first = sum(s.latency for s in ordered[:5]) / 5
    last = sum(s.latency for s in ordered[-5:]) / 5
    assert last - first > 0.4
    assert result.achieved_rate < 30
    assert report.verdict(result) == "FAIL rate"


async def test_latency_counts_from_the_scheduled_time_not_from_the_send(serve):
    # One connection: requests wait in the client's pool. Measured from the actual send
    # every one would look like 50 ms; from its scheduled time the wait shows.
    url = await serve(sleeping(0.05))
    result = await run_open_loop(
        "pool", [RequestSpec("GET", url)], rate=40, duration=1.0, warmup=0.0, connection_limit=1
    )
    ordered = sorted(result.samples, key=lambda s: s.scheduled)
    assert ordered[-1].latency - ordered[0].latency > 0.3
    assert result.max_ms is not None
    assert result.max_ms > 300


async def test_errors_are_counted_by_kind(serve):
    url = await serve(sleeping(0, status=500))
    result = await run_open_loop(
        "broken", [RequestSpec("GET", url)], rate=20, duration=1.0, warmup=0.0
    )
    assert result.errors == {"http_500": 20}
    assert result.p50_ms is not None  # a fast 500 is still an answer with a latency

    refused = await run_open_loop(
        "refused", [RequestSpec("GET", "http://127.0.0.1:9/")], rate=10, duration=0.5, warmup=0
    )
    assert refused.error_count == 5
    assert set(refused.errors) == {"ClientConnectorError"}
    assert refused.p50_ms is None


async def test_saturation_counts_answers_per_second(serve):
    url = await serve(sleeping(0.02))
    result = await saturate("sat", [RequestSpec("GET", url)], workers=4, duration=1.0, warmup=0.2)
    # 4 workers x (1 / 20 ms) = at most 200/s.
    assert 50 <= result.throughput <= 210
    assert result.errors == {}


# -- against the real app ----------------------------------------------------------------


@pytest.fixture
async def seeded(settings: Settings) -> None:
    # Before the app starts: the seed opens and closes the process's database pool.
    await seed_demo(settings)


@pytest.fixture
async def bench_context(
    settings: Settings, seeded: None, client: TestClient[web.Request, web.Application]
) -> AsyncIterator[BenchContext]:
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    redis = Redis.from_url(settings.redis_url)
    async with aiohttp.ClientSession() as http:
        base = str(client.make_url("")).rstrip("/")
        yield BenchContext(base, pool, http, SessionMinter(pool), redis, planned=20)
    await redis.aclose()
    await pool.close()


async def test_scenarios_run_against_the_app_without_errors(bench_context):
    profile = await build_profile_cached(bench_context)
    result = await run_open_loop("profile_cached", profile.specs, rate=20, duration=1.0, warmup=0.2)
    assert result.errors == {}
    assert result.count == 20

    polls = await poll_idle(bench_context)
    statuses: list[int] = []
    async with bench_context.http.get(polls.specs[0].url, headers=polls.specs[0].headers) as r:
        statuses.append(r.status)
    assert statuses == [304]
    result = await run_open_loop("poll_idle", polls.specs, rate=20, duration=1.0, warmup=0)
    assert result.errors == {}


async def test_minted_sessions_are_hashed_at_rest_and_revoked_at_the_end(bench_context):
    minter = bench_context.minter
    tokens = await minter.tokens_for([demo_id("user:luna")])
    token = tokens[demo_id("user:luna")]
    row = await bench_context.pool.fetchrow(
        "SELECT user_id, revoked_at FROM sessions WHERE token_hash = $1", hash_token(token)
    )
    assert row is not None
    assert row["revoked_at"] is None
    headers = {"Authorization": f"Bearer {token}"}
    async with bench_context.http.get(
        f"{bench_context.base_url}/v1/auth/session", headers=headers
    ) as r:
        assert r.status == 200

    await minter.revoke_all(bench_context.redis)
    async with bench_context.http.get(
        f"{bench_context.base_url}/v1/auth/session", headers=headers
    ) as r:
        assert r.status == 401


async def test_the_floor_answers_the_profile_row(settings: Settings):
    from aiohttp.test_utils import TestServer

    await seed_demo(settings)
    floor = TestClient(TestServer(create_floor_app(settings.database_url, pool_size=2)))
    await floor.start_server()
    try:
        response = await floor.get(f"/artists/{demo_id('artist:luna')}")
        assert response.status == 200
        body = await response.json()
        assert body["stage_name"] == "Luna Vega"
        missing = await floor.get(f"/artists/{demo_id('artist:nobody')}")
        assert missing.status == 404
    finally:
        await floor.close()
