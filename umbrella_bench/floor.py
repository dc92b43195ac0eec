"""The floor: the cheapest server that can answer a profile, to compare ours against.

A bare aiohttp app (no middleware, no ORM, no cache, no envelope) that runs the api's own
profile query with asyncpg and answers the row as JSON. Whatever our api does per
request (sessions, envelope, metrics, access log, cache, view counting) shows as the
distance to it. Run as its own process (`python -m umbrella_bench.floor --port N`, DSN in
`UMBRELLA_BENCH_FLOOR_DSN`, so it never shows in `ps`) so it gets a CPU of its own, as the api does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
from aiohttp import web

from umbrella.artists import service as artists_service

DSN_ENV = "UMBRELLA_BENCH_FLOOR_DSN"
POOL_ENV = "UMBRELLA_BENCH_FLOOR_POOL"
# The api's query, in asyncpg's placeholder style: taken from the service so both stay alike.
PROFILE_SQL = artists_service._PROFILE_SQL.replace("{}", "$1")
POOL_KEY = web.AppKey("pool", asyncpg.Pool)


async def profile(request: web.Request) -> web.Response:
    try:
        artist_id = UUID(request.match_info["artist_id"])
    except ValueError:
        return web.json_response({"error": "bad id"}, status=400)
    row = await request.app[POOL_KEY].fetchrow(PROFILE_SQL, artist_id)
    if row is None:
        return web.json_response({"error": "not found"}, status=404)
    return web.Response(
        body=json.dumps(dict(row), default=str).encode(), content_type="application/json"
    )


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def create_floor_app(dsn: str, *, pool_size: int = 10) -> web.Application:
    app = web.Application()

    async def pool(app: web.Application) -> AsyncIterator[None]:
        app[POOL_KEY] = await asyncpg.create_pool(dsn, min_size=pool_size, max_size=pool_size)
        try:
            yield
        finally:
            await app[POOL_KEY].close()

    app.cleanup_ctx.append(pool)
    app.router.add_get("/artists/{artist_id}", profile)
    app.router.add_get("/health", health)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m umbrella_bench.floor")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    app = create_floor_app(os.environ[DSN_ENV], pool_size=int(os.environ.get(POOL_ENV, "10")))
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)
    return 0


class FloorProcess:
    """The floor server in a subprocess, started and stopped by the bench."""

    def __init__(self, *, dsn: str, port: int, pool_size: int, log_path: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, DSN_ENV: dsn, POOL_ENV: str(pool_size)}
        with log_path.open("ab") as log_file:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "umbrella_bench.floor", "--port", str(port)],
                env=env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"the floor server exited (code {self.popen.returncode})")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise RuntimeError("the floor server did not become ready")

    async def wait_ready_async(self) -> None:
        await asyncio.to_thread(self.wait_ready)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def __enter__(self) -> FloorProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


if __name__ == "__main__":
    raise SystemExit(main())
