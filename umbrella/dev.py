"""`umbrella dev`: everything on one laptop, in one process tree, stopped by one Ctrl-C.

Starts Postgres, Redis and S3 (unless UMBRELLA_DATABASE_URL / UMBRELLA_REDIS_URL /
UMBRELLA_S3_ENDPOINT name servers to use instead), migrates, seeds demo data, then runs
the api, the worker and the cron schedule (UTC). A child that dies is restarted after a
short delay, the way Kubernetes would; data under `--home` survives to the next run.

The api serves at http://localhost:<port>, the UMBRELLA_PUBLIC_BASE_URL every link it mints
names, and lets a web dev server on http://localhost:5173 call it with the session cookie.
"""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from croniter import croniter

from umbrella.config import Settings, SettingsError, load_settings, redact_url
from umbrella.devstack import DevStack, DevStackError, ManagedProcess, Ports, _die_with_parent

if TYPE_CHECKING:
    from umbrella.core.cron import CronJob

API_READY_TIMEOUT_SECONDS = 60.0
# Vite's default: a web app served by its dev server may call the api with its cookie.
WEB_DEV_SERVER_ORIGIN = "http://localhost:5173"


@dataclass
class CronSchedule:
    name: str
    schedule: str
    next_run: float = 0.0

    def advance(self) -> None:
        self.next_run = croniter(self.schedule, datetime.now(UTC)).get_next(float)


@dataclass
class Supervisor:
    stack: DevStack
    env: dict[str, str]
    restart_delay: float
    children: dict[str, ManagedProcess] = field(default_factory=dict)
    died_at: dict[str, float] = field(default_factory=dict)
    cron_runs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    stopping: bool = False

    def spawn(self, name: str, *args: str) -> ManagedProcess:
        popen = subprocess.Popen(
            [sys.executable, "-m", "umbrella", *args],
            env=self.env,
            preexec_fn=_die_with_parent,
        )
        process = ManagedProcess(name=name, popen=popen)
        self.children[name] = process
        return process

    def run_cron(self, name: str) -> None:
        self.cron_runs.append(
            subprocess.Popen(
                [sys.executable, "-m", "umbrella", "cron", name],
                env=self.env,
                preexec_fn=_die_with_parent,
            )
        )

    def watch(self) -> None:
        """Restart whatever died: a server of the stack, the api or the worker."""
        now = time.monotonic()
        for name, process in list(self.stack.processes.items()):
            if not process.alive():
                self._restart(name, now, functools.partial(self.stack.restart, name))
        for name, process in list(self.children.items()):
            if not process.alive():
                self._restart(name, now, functools.partial(self.spawn, name, name))
        self.cron_runs = [run for run in self.cron_runs if run.poll() is None]

    def _restart(self, name: str, now: float, start: Callable[[], object]) -> None:
        died = self.died_at.setdefault(name, now)
        if died == now:
            print(
                f"umbrella dev: {name} exited; restarting in {self.restart_delay:.0f}s", flush=True
            )
            return
        if now - died < self.restart_delay:
            return
        try:
            start()
        except DevStackError as error:
            print(f"umbrella dev: {name} failed to restart: {error}", flush=True)
            self.died_at[name] = now
            return
        del self.died_at[name]
        print(f"umbrella dev: {name} restarted", flush=True)

    def stop(self) -> None:
        self.stopping = True
        for run in self.cron_runs:
            run.terminate()
        for name in ("api", "worker"):
            if name in self.children:
                self.children[name].stop(timeout=30)
        for run in self.cron_runs:
            run.wait(timeout=10)
        self.stack.stop()


def _child_env(settings_env: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("UMBRELLA_")}
    env.update(settings_env)
    return env


def _dev_secret_key(home: Path) -> str:
    """A signing key made once per checkout and kept, so cursors survive a restart."""
    path = home / "secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _loopback_host() -> str:
    """`localhost` when every address it resolves to can be listened on, else one that can.

    The api then answers wherever a browser or Node resolves `localhost` (::1 first on many
    laptops); a hosts file naming ::1 on a machine without IPv6 leaves 127.0.0.1 alone.
    """
    usable: list[str] = []
    infos = socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as sock:
            try:
                sock.bind(address)
            except OSError:
                continue
        usable.append(str(address[0]))
    if usable and len(usable) == len(infos):
        return "localhost"
    return usable[0] if usable else "127.0.0.1"


def _settings_env(stack: DevStack, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """UMBRELLA_* for the children: the developer's own values win over the stack's."""
    endpoints = stack.endpoints
    values = {
        "UMBRELLA_SECRET_KEY": _dev_secret_key(stack.home),
        "UMBRELLA_ENV": "development",
        "UMBRELLA_DATABASE_URL": endpoints.database_url or "",
        "UMBRELLA_REDIS_URL": endpoints.redis_url or "",
        "UMBRELLA_S3_ENDPOINT": endpoints.s3_endpoint or "",
        "UMBRELLA_S3_ACCESS_KEY": endpoints.s3_access_key,
        "UMBRELLA_S3_SECRET_KEY": endpoints.s3_secret_key,
        "UMBRELLA_S3_CREATE_BUCKET": "true",
        "UMBRELLA_SESSION_COOKIE_SECURE": "false",
        "UMBRELLA_LOG_FORMAT": "console",
        # Like the stack's servers, the api and the worker's probes stay on this machine.
        "UMBRELLA_HOST": _loopback_host(),
        # A second stack (--ports random) must not meet the first one's api or worker.
        "UMBRELLA_PORT": str(stack.ports.api),
        "UMBRELLA_WORKER_METRICS_PORT": str(stack.ports.worker_metrics),
        "UMBRELLA_CORS_ORIGINS": WEB_DEV_SERVER_ORIGIN,
        "UMBRELLA_SHUTDOWN_GRACE_SECONDS": "5",
        # Mail and texts are logged, not sent, unless the developer configures the providers.
        "UMBRELLA_EMAIL_BACKEND": "console",
        "UMBRELLA_SMS_BACKEND": "console",
    }
    values.update({key: value for key, value in environ.items() if key.startswith("UMBRELLA_")})
    # An empty value is the developer's way to ask for the setting's default (no CORS origin).
    env = {key: value for key, value in values.items() if value}
    # Every link the api mints (sign-in callbacks, feeds, unsubscribe and email links) names
    # the address it serves at: one host for the browser, so sign-in cookies come back.
    env.setdefault("UMBRELLA_PUBLIC_BASE_URL", f"http://localhost:{env['UMBRELLA_PORT']}")
    return env


def _settings_of(env: Mapping[str, str]) -> Settings:
    return load_settings(**{key.removeprefix("UMBRELLA_").lower(): v for key, v in env.items()})


def _local_url(settings: Settings, port: int) -> str:
    """Where this machine reaches a process listening on `settings.host` and `port`."""
    host = settings.host
    if host in {"", "0.0.0.0", "::", "localhost"}:  # noqa: S104  (matched, not bound)
        host = "localhost"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


async def _prepare(settings: Settings) -> str:
    """Migrate, seed, and open a session for the first demo artist; return its token."""
    from umbrella.accounts.service import SessionStore
    from umbrella.core import cache, db
    from umbrella.core.migrations import migrate
    from umbrella.observability.metrics import Metrics
    from umbrella.seed import DEMO_LOGIN_EMAIL, demo_id, seed_demo

    report = await migrate(settings)
    print(f"umbrella dev: migrations applied: {len(report.applied)}", flush=True)
    print(f"umbrella dev: {await seed_demo(settings)}", flush=True)
    async with (
        db.database(settings, application_name="umbrella-dev"),
        cache.redis(settings) as redis,
    ):
        store = SessionStore(
            redis=redis, metrics=Metrics(), ttl_seconds=settings.session_ttl_seconds
        )
        session = await store.create(user_id=demo_id("user:luna"), user_agent="umbrella dev")
    print(f"umbrella dev: signed in as {DEMO_LOGIN_EMAIL}", flush=True)
    return session.token


def _wait_for_api(url: str, supervisor: Supervisor) -> bool:
    deadline = time.monotonic() + API_READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline and not supervisor.stopping:
        api = supervisor.children.get("api")
        if api is not None and not api.alive():
            return False
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    return False


def run_dev(*, home: str, random_ports: bool = False, restart_delay: float = 3.0) -> int:
    stack = DevStack(
        Path(home),
        ports=Ports.random() if random_ports else Ports(),
        durable=True,
        start_postgres="UMBRELLA_DATABASE_URL" not in os.environ,
        start_redis="UMBRELLA_REDIS_URL" not in os.environ,
        start_s3="UMBRELLA_S3_ENDPOINT" not in os.environ,
    )
    started = time.monotonic()
    try:
        stack.start()
    except DevStackError as error:
        print(f"umbrella dev: {error}", file=sys.stderr)
        return 1
    env = _settings_env(stack)
    supervisor = Supervisor(stack=stack, env=_child_env(env), restart_delay=restart_delay)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        supervisor.stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        settings = _settings_of(env)
        token = asyncio.run(_prepare(settings))
        supervisor.spawn("api", "api")
        supervisor.spawn("worker", "worker")
        # Where it listens: the public URL itself unless the developer named another (a
        # tunnel, say, that may not be up yet).
        if not _wait_for_api(_local_url(settings, settings.port), supervisor):
            if supervisor.stopping:
                return 0
            print("umbrella dev: the api did not become ready; see its log above", file=sys.stderr)
            return 1
        _banner(token, settings, time.monotonic() - started)
        schedules = [CronSchedule(job.name, job.schedule) for job in _cron_jobs()]
        for schedule in schedules:
            schedule.advance()
        while not supervisor.stopping:
            supervisor.watch()
            now = time.time()
            for schedule in schedules:
                if now >= schedule.next_run:
                    print(f"umbrella dev: cron {schedule.name} (schedule {schedule.schedule})")
                    supervisor.run_cron(schedule.name)
                    schedule.advance()
            time.sleep(0.25)
        return 0
    except SettingsError as error:
        print(f"umbrella dev: {error}", file=sys.stderr)
        return 78
    finally:
        print("umbrella dev: stopping…", flush=True)
        supervisor.stop()
        print("umbrella dev: stopped", flush=True)


def _cron_jobs() -> list[CronJob]:
    from umbrella.core.cron import all_cron_jobs

    # The worker's scheduler runs the in_worker ones (UMBRELLA_WORKER_SCHEDULER_ENABLED).
    return [job for job in all_cron_jobs().values() if not job.in_worker]


def _banner(token: str, settings: Settings, elapsed: float) -> None:
    api_url = settings.public_base_url
    local_url = _local_url(settings, settings.port)
    access_key = settings.s3_access_key.get_secret_value()
    lines = [
        "",
        f"Umbrella is running (ready in {elapsed:.1f}s). Ctrl-C stops everything.",
        f"  API        {api_url}/v1",
        f"  OpenAPI    {api_url}/v1/openapi.json",
        f"  Health     {api_url}/health",
    ]
    if local_url != api_url:
        lines.append(f"  Listening  {local_url} (UMBRELLA_PUBLIC_BASE_URL names the links)")
    lines += [
        f"  Worker     {_local_url(settings, settings.worker_metrics_port)}/metrics",
        f"  Postgres   {redact_url(settings.database_url)}",
        f"  Redis      {redact_url(settings.redis_url)}",
        f"  S3         {settings.s3_endpoint}  (key {access_key}, bucket {settings.s3_bucket})",
        *_cors_lines(settings),
        "  Dev login token (demo artist Luna Vega):",
        f"    export UMBRELLA_TOKEN={token}",
        f'    curl -H "Authorization: Bearer $UMBRELLA_TOKEN" {api_url}/v1/auth/session',
        "",
    ]
    print("\n".join(lines), flush=True)


def _cors_lines(settings: Settings) -> list[str]:
    """Which web app may call the api from a browser, and what its session cookie needs."""
    if not settings.cors_origins:
        return [
            "  CORS       no web origin may call the API from a browser",
            f"             (UMBRELLA_CORS_ORIGINS={WEB_DEV_SERVER_ORIGIN} allows Vite's)",
        ]
    host = urlsplit(settings.public_base_url).hostname
    return [
        f"  CORS       {', '.join(settings.cors_origins)} may call the API with credentials",
        "             (UMBRELLA_CORS_ORIGINS=origin,origin changes the list; empty: none)",
        f"             serve the web app from {host} too: the session cookie stays on one site",
    ]
