"""`umbrella dev` end to end, as a developer runs it: up, usable, resilient, stopped by Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import socket
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from tests.conftest import REPO_ROOT, Servers, clean_env, start_umbrella
from umbrella.devstack import free_port


async def read_until(stream: asyncio.StreamReader, pattern: str, seconds: float) -> str:
    """Collect output until a line matches (or fail with what was printed)."""
    seen: list[str] = []
    try:
        async with asyncio.timeout(seconds):
            while True:
                line = (await stream.readline()).decode()
                if not line:
                    break
                seen.append(line)
                if re.search(pattern, line):
                    return "".join(seen)
    except TimeoutError:
        pass
    raise AssertionError(f"never printed {pattern!r}:\n{''.join(seen)[-4000:]}")


async def poll_status(
    http: aiohttp.ClientSession,
    url: str,
    want: int,
    seconds: float,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    async with asyncio.timeout(seconds):
        while True:
            try:
                async with http.get(url, headers=headers) as response:
                    if response.status == want:
                        body: dict[str, Any] = await response.json()
                        return body
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)


def hold_port(port: int) -> socket.socket | None:
    """Listen on `port` as a first stack would (None: something already does)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        return None
    sock.listen()
    return sock


async def test_dev_runs_everything_survives_redis_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    # A first stack on the fixed ports of the api (8080) and the worker (8081): a second one
    # started with --ports random must take others for its api and its worker too.
    first_stack = [hold_port(8080), hold_port(8081)]
    health_token = secrets.token_urlsafe(24)
    env = clean_env(UMBRELLA_HEALTH_TOKEN=health_token)
    home = tmp_path / "home"
    dev = await start_umbrella(
        "dev", "--home", str(home), "--ports", "random", "--restart-delay", "3", env=env
    )
    assert dev.stdout is not None
    try:
        banner = await read_until(dev.stdout, r"curl -H", 90)
        token = re.search(r"UMBRELLA_TOKEN=(\S+)", banner)
        assert token, banner
        api = re.search(r"OpenAPI\s+http://127\.0\.0\.1:(\d+)/v1/openapi\.json", banner)
        worker = re.search(r"Worker\s+(http://127\.0\.0\.1:(\d+))/metrics", banner)
        assert api, banner
        assert worker, banner
        assert {int(api.group(1)), int(worker.group(2))}.isdisjoint({8080, 8081})
        base = f"http://127.0.0.1:{api.group(1)}"
        auth = {"Authorization": f"Bearer {token.group(1)}"}
        drain = asyncio.create_task(dev.stdout.read())  # keep the pipe from filling up

        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/readyz") as ready:
                assert ready.status == 200
            await poll_status(http, f"{worker.group(1)}/livez", 200, 30)
            async with http.get(f"{base}/v1/auth/session", headers=auth) as session:
                body = await session.json()
                assert body["data"]["user"]["email"] == "luna@demo.umbrella.test"

            redis_pid = int((home / "run" / "redis.pid").read_text())
            os.kill(redis_pid, signal.SIGKILL)
            details = {"Authorization": f"Bearer {health_token}"}
            down = await poll_status(http, f"{base}/health", 503, 5, headers=details)
            assert down["dependencies"]["redis"]["status"] == "down"
            async with http.get(f"{base}/readyz") as still_ready:
                assert still_ready.status == 200  # Redis away slows the api, never stops it
            async with http.get(f"{base}/v1/auth/session", headers=auth) as during:
                assert during.status == 200  # the Postgres fallback
            # restarted by the supervisor
            await poll_status(http, f"{base}/health", 200, 30, headers=details)

        children = psutil.Process(dev.pid).children(recursive=True)
        assert len(children) >= 5  # postgres (+ its workers), redis, weed, api, worker
        dev.send_signal(signal.SIGINT)
        await asyncio.wait_for(dev.wait(), 60)
        output = (await drain).decode()
        assert dev.returncode == 0, output[-3000:]
        assert "umbrella dev: stopped" in output
        assert not [
            child for child in children if child.is_running() and child.status() != "zombie"
        ]
    finally:
        if dev.returncode is None:
            dev.kill()
            await dev.wait()
        for sock in first_stack:
            if sock is not None:
                sock.close()


async def test_dev_uses_the_servers_named_by_the_environment(
    tmp_path: Path, servers: Servers, empty_database_url: str
) -> None:
    port, worker_port = free_port(), free_port()
    env = clean_env(
        UMBRELLA_PORT=str(port),
        UMBRELLA_WORKER_METRICS_PORT=str(worker_port),
        UMBRELLA_DATABASE_URL=empty_database_url,
        UMBRELLA_REDIS_URL=servers.redis_url,
        UMBRELLA_S3_ENDPOINT=servers.s3_endpoint,
        UMBRELLA_S3_ACCESS_KEY=servers.s3_access_key,
        UMBRELLA_S3_SECRET_KEY=servers.s3_secret_key,
        UMBRELLA_S3_BUCKET=f"dev-{free_port()}",
    )
    home = tmp_path / "home"
    dev = await start_umbrella("dev", "--home", str(home), env=env)
    assert dev.stdout is not None
    try:
        banner = await read_until(dev.stdout, r"curl -H", 90)
        assert f"Postgres   {empty_database_url}" in banner
        assert f"Redis      {servers.redis_url}" in banner
        # it started no server of its own
        assert not list((home / "run").glob("*.pid"))
        migration_files = list((REPO_ROOT / "migrations").glob("*/*_[0-9][0-9][0-9][0-9]_*.py"))
        assert f"migrations applied: {len(migration_files)}" in banner
        drain = asyncio.create_task(dev.stdout.read())
        dev.send_signal(signal.SIGINT)
        await asyncio.wait_for(dev.wait(), 60)
        await drain
        assert dev.returncode == 0
    finally:
        if dev.returncode is None:
            dev.kill()
            await dev.wait()
