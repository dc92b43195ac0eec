"""The bench's own stack: Postgres, Redis and S3 in a temporary home, the api and the worker.

Started like `umbrella dev --ports random` but production-like (JSON logs, a durable
Postgres sized for the dataset), loaded with the dataset of `umbrella seed --artists …` (or
the demo seed), and stopped and deleted at the end unless kept.
"""

from __future__ import annotations

import argparse
import contextlib
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

import asyncpg

from umbrella.config import Settings, load_settings
from umbrella.dataset.size import DatasetSize
from umbrella.devstack import DevStack, DevStackError, Ports, _die_with_parent, free_port
from umbrella_bench.arguments import DATASET_FLAGS, DATASET_PRESETS
from umbrella_bench.console import progress

API_READY_TIMEOUT_SECONDS = 60.0


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


def stack_env(stack: DevStack, home: Path) -> dict[str, str]:
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
        bench.env = stack_env(stack, home)
        yield bench
    finally:
        progress("stopping the stack")
        bench.stop()
        if keep:
            progress(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


async def load_data(
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
