"""The bench run itself: its stack, its scenarios and its checks (the options: arguments.py)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from redis.asyncio import Redis

from tests.fakes.resend import FakeResend
from umbrella.config import SettingsError
from umbrella.devstack import DevStackError, free_port
from umbrella_bench import batch, report
from umbrella_bench.console import progress, say
from umbrella_bench.context import BenchContext, BenchSetupError, SessionMinter
from umbrella_bench.fakes import running_in_thread
from umbrella_bench.floor import FloorProcess
from umbrella_bench.load import LoadResult, run_open_loop, saturate
from umbrella_bench.scenarios import BUILDERS, DEFAULT_RATES
from umbrella_bench.stack import bench_stack, load_data

EXIT_FAILURE = 1
EXIT_CONFIG = 78
# Worker jobs left by one scenario (emails of applications, inbox repairs) would eat the
# CPU of the next: wait this long at most for the queue to drain between scenarios.
DRAIN_TIMEOUT_SECONDS = 20.0


# -- the run -----------------------------------------------------------------------------


def rss_mb(pid: int) -> float | None:
    """VmRSS of a process in MB, from /proc (Linux); None if it is gone or unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def _drain_jobs(pool: asyncpg.Pool) -> int:
    """Wait (bounded) until the worker has no job due; return what is still due."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    due = 0
    while time.monotonic() < deadline:
        try:
            due = await pool.fetchval(
                "SELECT count(*) FROM pgqueuer WHERE status IN ('queued', 'picked')"
                " AND execute_after <= now()"
            )
        except asyncpg.PostgresError:
            return 0
        if not due:
            return 0
        await asyncio.sleep(0.5)
    return int(due)


@dataclass
class RunPlan:
    base_url: str
    database_url: str
    redis_url: str | None
    scenarios: list[str]
    rates: dict[str, float]
    duration: float
    warmup: float
    workers: int
    saturation_duration: float
    floor: bool
    db_pool_size: int
    pids: dict[str, int]
    setup: dict[str, Any]
    log_dir: Path
    skipped: list[str] = field(default_factory=list)
    # The gig_browse row of the 10,000-gig baseline (None: the ratio is not judged).
    browse_baseline: dict[str, Any] | None = None
    # The analytics-daily subprocess's environment (None: not run, and why).
    analytics_env: dict[str, str] | None = None
    fake_resend: FakeResend | None = None
    not_run: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    results: list[LoadResult]
    saturation: dict[str, Any] | None = None
    floor_ratio: float | None = None
    checks: list[report.Check] = field(default_factory=list)


async def _run(plan: RunPlan) -> Outcome:
    pool = await asyncpg.create_pool(plan.database_url, min_size=1, max_size=4)
    redis = Redis.from_url(plan.redis_url) if plan.redis_url else None
    minter = SessionMinter(pool)
    results: list[LoadResult] = []
    skipped = plan.skipped
    outcome = Outcome(results)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            ctx = BenchContext(plan.base_url, pool, http, minter, redis)
            for name in plan.scenarios:
                rate = plan.rates[name]
                ctx.planned = round((plan.warmup + plan.duration) * rate)
                progress(f"{name}: building")
                try:
                    scenario = await BUILDERS[name](ctx)
                except BenchSetupError as error:
                    # One scenario the data cannot feed must not hide the others' results.
                    progress(f"{name}: skipped: {error}")
                    skipped.append(f"{name} skipped: {error}")
                    continue
                progress(f"{name}: {scenario.description}; {rate:.0f}/s for {plan.duration:.0f}s")
                result = await run_open_loop(
                    name, scenario.specs, rate=rate, duration=plan.duration, warmup=plan.warmup
                )
                result.notes[:0] = scenario.notes
                results.append(result)
                backlog = await _drain_jobs(pool)
                if backlog:
                    result.notes.append(f"{backlog} worker jobs still due 20s after the run")
            if plan.floor:
                ctx.planned = 0
                profile = await BUILDERS["profile_cached"](ctx)
                outcome.saturation, outcome.floor_ratio = await _saturation(
                    plan, profile.specs, pool
                )
            outcome.checks = await _checks(plan, ctx, results)
    finally:
        with contextlib.suppress(Exception):
            await minter.revoke_all(redis)
        if redis is not None:
            await redis.aclose()
        await pool.close()
    return outcome


async def _checks(
    plan: RunPlan, ctx: BenchContext, results: list[LoadResult]
) -> list[report.Check]:
    """The targets beyond latency, after the load (each on a drained queue, one at a time)."""
    checks: list[report.Check] = []
    if plan.browse_baseline is not None:
        browse = next((r for r in results if r.name == "gig_browse"), None)
        gigs = (plan.setup.get("dataset") or {}).get("gigs")
        checks.append(report.browse_ratio(browse, plan.browse_baseline, current_gigs=gigs))
    else:
        checks.append(report.not_run("browse_ratio", "no --browse-baseline"))
    if plan.analytics_env is not None:
        await _drain_jobs(ctx.pool)
        progress("analytics-daily: running the cron job")
        checks.append(
            await batch.run_analytics(
                env=plan.analytics_env,
                pool=ctx.pool,
                log_path=plan.log_dir / f"{batch.ANALYTICS_JOB}.log",
            )
        )
    else:
        checks.append(report.not_run("analytics_daily", plan.not_run.get("analytics", "")))
    if plan.fake_resend is not None:
        await _drain_jobs(ctx.pool)
        progress("broadcast: sending to the fan list")
        checks.append(
            await batch.measure_broadcast(
                base_url=plan.base_url,
                pool=ctx.pool,
                http=ctx.http,
                minter=ctx.minter,
                fake=plan.fake_resend,
            )
        )
    else:
        checks.append(report.not_run("broadcast_email", plan.not_run.get("broadcast", "")))
    return checks


async def _saturation(
    plan: RunPlan, specs: list[Any], pool: asyncpg.Pool
) -> tuple[dict[str, Any], float]:
    """Closed loop on the hot profiles: ours, then the floor's, with the same workers."""
    progress(f"saturation: ours, {plan.workers} workers for {plan.saturation_duration:.0f}s")
    ours = await saturate("ours", specs, workers=plan.workers, duration=plan.saturation_duration)
    artist_ids = [spec.url.rsplit("/", 1)[1] for spec in specs]
    with FloorProcess(
        dsn=plan.database_url,
        port=free_port(),
        pool_size=plan.db_pool_size,
        log_path=plan.log_dir / "floor.log",
    ) as floor_process:
        await floor_process.wait_ready_async()
        floor_specs = [
            dataclasses.replace(spec, url=f"{floor_process.url}/artists/{artist_id}", headers={})
            for spec, artist_id in zip(specs, artist_ids, strict=True)
        ]
        progress(f"saturation: the floor on {floor_process.url}")
        floor = await saturate(
            "floor", floor_specs, workers=plan.workers, duration=plan.saturation_duration
        )
        floor_rss = rss_mb(floor_process.popen.pid)
    line, ratio = report.floor_line(ours, floor)
    data = {
        "method": f"closed loop, {plan.workers} workers back to back, same hot profile ids",
        "ours": ours.as_dict(),
        "floor": floor.as_dict(),
        "ratio": round(ratio, 3),
        "floor_rss_mb": floor_rss,
        "line": line,
    }
    return data, ratio


def _print(outcome: Outcome, rss: dict[str, float | None], setup: dict[str, Any]) -> None:
    results, saturation = outcome.results, outcome.saturation
    say()
    say(
        f"umbrella bench: {setup['data']}; {setup['duration']:.0f}s per scenario after"
        f" {setup['warmup']:.0f}s warm-up; latency from the scheduled send time"
    )
    say()
    say(report.table(results))
    notes = [f"{r.name}: {note}" for r in results for note in r.notes]
    notes += setup.get("skipped", [])
    if notes:
        say()
        for note in notes:
            say(f"  note {note}")
    say()
    if saturation is not None:
        say(saturation["line"])
    else:
        say("profile saturation: skipped")
    for name in ("api", "worker"):
        say(report.rss_line(name, rss.get(name)))
    if outcome.checks:
        say()
        say(report.checks_table(outcome.checks))


def _passed(outcome: Outcome, rss: dict[str, float | None]) -> bool:
    results, ratio = outcome.results, outcome.floor_ratio
    ok = all(report.verdict(r) == "ok" for r in results)
    ok = ok and not any(check.failed for check in outcome.checks)
    minimum = report.TARGETS["floor_ratio"].min_floor_ratio or 0.0
    if ratio is not None and ratio < minimum:
        ok = False
    for name, value in rss.items():
        cap = report.TARGETS[f"rss_{name}"].max_rss_mb
        if value is not None and cap is not None and value > cap:
            ok = False
    return ok


def _execute(plan: RunPlan, json_path: Path | None) -> int:
    try:
        outcome = asyncio.run(_run(plan))
    except BenchSetupError as error:
        progress(f"cannot build a scenario: {error}")
        return EXIT_FAILURE
    # Read after the runs, while the api and the worker still hold what the load made them grow.
    rss: dict[str, float | None] = {"api": None, "worker": None}
    rss |= {name: rss_mb(pid) for name, pid in plan.pids.items()}
    plan.setup["skipped"] = plan.skipped
    _print(outcome, rss, plan.setup)
    if json_path is not None:
        document = report.as_json(
            outcome.results,
            saturation=outcome.saturation,
            rss_mb=rss,
            setup=plan.setup,
            checks=outcome.checks,
        )
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(document, indent=2, default=str) + "\n")
        progress(f"results written to {json_path}")
    return 0 if _passed(outcome, rss) and not plan.skipped else EXIT_FAILURE


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the bench; 0 when every target is met, 1 otherwise (or when it cannot run)."""
    names = list(dict.fromkeys(args.scenario or BUILDERS))
    rates = {**DEFAULT_RATES, **dict(args.rate)}
    common: dict[str, Any] = {
        "scenarios": names,
        "rates": rates,
        "duration": args.duration,
        "warmup": args.warmup,
        "workers": args.workers,
        "saturation_duration": args.saturation_duration,
        "floor": not args.no_floor,
    }
    setup: dict[str, Any] = {
        "duration": args.duration,
        "warmup": args.warmup,
        "rates": {name: rates[name] for name in names},
        "cpus": os.cpu_count(),
    }
    if args.browse_baseline is not None:
        # Read before any stack starts: a large dataset takes a while to load.
        try:
            common["browse_baseline"] = batch.load_browse_baseline(args.browse_baseline)
        except batch.BaselineError as error:
            progress(str(error))
            return EXIT_CONFIG
        setup["browse_baseline"] = str(args.browse_baseline)
    if args.url:
        if not args.database_url:
            progress("--url needs the api's Postgres: set UMBRELLA_DATABASE_URL or --database-url")
            return EXIT_CONFIG
        base = args.url.rstrip("/").removesuffix("/v1")
        setup |= {"url": base, "data": f"external api {base}"}
        plan = RunPlan(
            base_url=base,
            database_url=args.database_url,
            redis_url=args.redis_url,
            db_pool_size=10,
            pids={},
            setup=setup,
            log_dir=Path(tempfile.gettempdir()),
            not_run={
                "analytics": "needs the bench's own stack",
                "broadcast": "needs the bench's own stack",
            },
            **common,
        )
        return _execute(plan, args.json)
    try:
        # The fake outlives the stack: the worker may still send while it stops.
        with (
            contextlib.ExitStack() as fakes,
            bench_stack(keep=args.keep) as stack,
        ):
            fake: FakeResend | None = None
            if not args.no_broadcast:
                # Before the api and the worker start: they read where to send email once.
                fake = fakes.enter_context(running_in_thread(FakeResend()))
                stack.env |= fake.env()
            settings = stack.settings()
            data, dataset = asyncio.run(load_data(settings, args))
            progress(data)
            stack.spawn("api")
            stack.spawn("worker")
            stack.wait_for_api()
            setup |= {"url": stack.api_url, "data": data, "size": args.size, "dataset": dataset}
            plan = RunPlan(
                base_url=stack.api_url,
                database_url=settings.database_url,
                redis_url=settings.redis_url,
                db_pool_size=settings.db_pool_max_size,
                pids=stack.pids(),
                setup=setup,
                log_dir=stack.home / "logs",
                analytics_env=None if args.no_analytics else stack.child_env(),
                fake_resend=fake,
                not_run={"analytics": "--no-analytics", "broadcast": "--no-broadcast"},
                **common,
            )
            return _execute(plan, args.json)
    except DevStackError as error:
        progress(str(error))
        return EXIT_FAILURE
    except SettingsError as error:
        progress(str(error))
        return EXIT_CONFIG
