"""The bench run itself: its stack, its scenarios and its checks (the options: arguments.py)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from redis.asyncio import Redis

from tests.fakes.resend import FakeResend
from umbrella.config import Settings, SettingsError, load_settings
from umbrella.dataset.size import DatasetSize
from umbrella.devstack import DevStack, DevStackError, Ports, _die_with_parent, free_port
from umbrella_bench import batch, report
from umbrella_bench.arguments import DATASET_FLAGS, DATASET_PRESETS
from umbrella_bench.fakes import running_in_thread
from umbrella_bench.floor import FloorProcess
from umbrella_bench.load import LoadResult, run_open_loop, saturate
from umbrella_bench.scenarios import (
    BUILDERS,
    DEFAULT_RATES,
    BenchContext,
    BenchSetupError,
    SessionMinter,
)

EXIT_FAILURE = 1
EXIT_CONFIG = 78
API_READY_TIMEOUT_SECONDS = 60.0
# Worker jobs left by one scenario (emails of applications, inbox repairs) would eat the
# CPU of the next: wait this long at most for the queue to drain between scenarios.
DRAIN_TIMEOUT_SECONDS = 20.0


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def progress(text: str) -> None:
    sys.stderr.write(f"umbrella bench: {text}\n")
    sys.stderr.flush()


# -- the bench's own stack ---------------------------------------------------------------


@dataclass
class BenchStack:
    """Postgres, Redis and S3 in a temporary home, plus the api and the worker."""

    home: Path
    stack: DevStack
    env: dict[str, str] = field(default_factory=dict)
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.env['UMBRELLA_PORT']}"

    def settings(self) -> Settings:
        values = {key[len("UMBRELLA_") :].lower(): v for key, v in self.env.items()}
        return load_settings(**values)

    def child_env(self) -> dict[str, str]:
        """The environment of an `umbrella` child: ours, with exactly the stack's UMBRELLA_*."""
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("UMBRELLA_")}
        child_env.update(self.env)
        return child_env

    def spawn(self, name: str) -> None:
        with (self.home / "logs" / f"{name}.log").open("ab") as log_file:
            self.children[name] = subprocess.Popen(
                [sys.executable, "-m", "umbrella", name],
                env=self.child_env(),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
            )

    def wait_for_api(self) -> None:
        deadline = time.monotonic() + API_READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            api = self.children["api"]
            if api.poll() is not None:
                raise DevStackError(
                    f"the api exited (code {api.returncode}); {self.log_tail('api')}"
                )
            try:
                with urllib.request.urlopen(f"{self.api_url}/readyz", timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise DevStackError(f"the api did not become ready; {self.log_tail('api')}")

    def log_tail(self, name: str) -> str:
        path = self.home / "logs" / f"{name}.log"
        lines = path.read_text(errors="replace").splitlines()[-10:] if path.exists() else []
        return "its log ends:\n" + "\n".join(lines)

    def pids(self) -> dict[str, int]:
        return {name: child.pid for name, child in self.children.items() if child.poll() is None}

    def stop(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children.values():
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        self.stack.stop()


def _stack_env(stack: DevStack, home: Path) -> dict[str, str]:
    """UMBRELLA_* of the bench's api and worker: production-like, on free ports."""
    endpoints = stack.endpoints
    return {
        "UMBRELLA_ENV": "development",
        "UMBRELLA_SECRET_KEY": secrets.token_urlsafe(32),
        "UMBRELLA_DATABASE_URL": endpoints.database_url or "",
        "UMBRELLA_REDIS_URL": endpoints.redis_url or "",
        "UMBRELLA_S3_ENDPOINT": endpoints.s3_endpoint or "",
        "UMBRELLA_S3_ACCESS_KEY": endpoints.s3_access_key,
        "UMBRELLA_S3_SECRET_KEY": endpoints.s3_secret_key,
        "UMBRELLA_S3_CREATE_BUCKET": "true",
        "UMBRELLA_HOST": "127.0.0.1",
        "UMBRELLA_PORT": str(free_port()),
        "UMBRELLA_WORKER_METRICS_PORT": str(free_port()),
        "UMBRELLA_SESSION_COOKIE_SECURE": "false",
        # As in production: one JSON access-log line per request (to a file under the home).
        "UMBRELLA_LOG_FORMAT": "json",
        "UMBRELLA_LOG_LEVEL": "INFO",
        "UMBRELLA_SHUTDOWN_GRACE_SECONDS": "5",
        "UMBRELLA_EMAIL_BACKEND": "console",
        "UMBRELLA_SMS_BACKEND": "console",
        # Every simulated client shares the generator's address, 127.0.0.1: in production
        # each has its own. The per-user write limit stays as shipped.
        "UMBRELLA_WRITE_RATE_LIMIT_PER_IP_PER_MINUTE": "100000",
    }


# Postgres as a production server of the targets' size would be set up: the 1,000,000-gig
# dataset is 1.4 GB, and with the 128 MB default every browse page reads its gig rows from
# the OS cache (docs/performance.md, "Postgres"). Durable, as in production.
BENCH_POSTGRES_SETTINGS = {
    "shared_buffers": "1GB",
    "effective_cache_size": "4GB",
    "random_page_cost": "1.1",
}


@contextlib.contextmanager
def bench_stack(*, keep: bool) -> Iterator[BenchStack]:
    home = Path(tempfile.mkdtemp(prefix="umbrella-bench-"))
    stack = DevStack(
        home, ports=Ports.random(), durable=True, postgres_settings=BENCH_POSTGRES_SETTINGS
    )
    progress(f"starting postgres, redis and s3 under {home}")
    stack.start()
    bench = BenchStack(home=home, stack=stack)
    try:
        bench.env = _stack_env(stack, home)
        yield bench
    finally:
        progress("stopping the stack")
        bench.stop()
        if keep:
            progress(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


async def _load_data(
    settings: Settings, args: argparse.Namespace
) -> tuple[str, dict[str, int] | None]:
    """The dataset (or the demo seed): a line that says which, and the dataset's counts
    (None for the demo seed)."""
    from umbrella.core.migrations import migrate
    from umbrella.dataset.builder import load_dataset

    await migrate(settings)
    if args.demo_seed:
        from umbrella.seed import seed_demo

        return f"demo seed ({await seed_demo(settings)})", None
    counts = {name: getattr(args, name) for name in DATASET_FLAGS if getattr(args, name)}
    size = DatasetSize(**{**DATASET_PRESETS[args.size], **counts})
    progress(f"loading the dataset: {size}")
    started = time.monotonic()
    outcome = await load_dataset(settings, size)
    progress(f"dataset loaded:\n{outcome}")
    # The load leaves about a gigabyte of dirty pages behind: written out now, not by a
    # checkpoint in the middle of the measurements, where it stalled every commit (send
    # message p95 17 ms in one run, 105 ms in the next). The bench's own server: superuser.
    connection = await asyncpg.connect(settings.database_url)
    try:
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()
    resolved = {k: v for k, v in vars(size.resolved()).items() if k != "seed"}
    counts_text = ", ".join(f"{k} {v:,}" for k, v in resolved.items() if v)
    text = f"dataset {args.size} ({counts_text}) loaded in {time.monotonic() - started:.0f}s"
    return text, resolved


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
            data, dataset = asyncio.run(_load_data(settings, args))
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
