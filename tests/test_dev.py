"""`umbrella dev` end to end, as a developer runs it: up, usable, resilient, stopped by Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import socket
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest

from tests.conftest import REPO_ROOT, Servers, clean_env, start_umbrella
from tests.fakes.oidc import FakeOidcProvider
from umbrella.calendar.service import feed_url
from umbrella.config import Settings, load_settings
from umbrella.dev import _settings_env
from umbrella.devstack import DevStack, Ports, StackEndpoints, free_port
from umbrella.fans.unsubscribe import unsubscribe_url

WEB_DEV_SERVER = "http://localhost:5173"  # Vite's default origin


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


def banner_base_url(banner: str) -> str:
    """The API's base URL as the banner prints it (API line, without `/v1`)."""
    api = re.search(r"API\s+(http://\S+)/v1\n", banner)
    assert api, banner
    base = api.group(1)
    assert f"OpenAPI    {base}/v1/openapi.json" in banner
    assert f"Health     {base}/health" in banner
    assert f"{base}/v1/auth/session" in banner  # the curl example
    return base


async def preflight(http: aiohttp.ClientSession, base: str, origin: str) -> aiohttp.ClientResponse:
    """The browser's CORS preflight of a credentialed GET from a page at `origin`."""
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "content-type",
    }
    async with http.options(f"{base}/v1/auth/session", headers=headers) as response:
        return response


async def calendar_link(http: aiohttp.ClientSession, base: str, auth: dict[str, str]) -> str:
    """A new calendar feed link for the demo artist, as the api mints it."""
    async with http.post(f"{base}/v1/calendar/token", headers=auth) as response:
        assert response.status == 200, await response.text()
        url: str = (await response.json())["data"]["url"]
        return url


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


async def test_dev_runs_everything_survives_redis_and_stops_on_ctrl_c(
    tmp_path: Path, fake_oidc: FakeOidcProvider
) -> None:
    # A first stack on the fixed ports of the api (8080) and the worker (8081): a second one
    # started with --ports random must take others for its api and its worker too.
    first_stack = [hold_port(8080), hold_port(8081)]
    health_token = secrets.token_urlsafe(24)
    env = clean_env(
        UMBRELLA_HEALTH_TOKEN=health_token,
        UMBRELLA_GOOGLE_CLIENT_ID=fake_oidc.google.client_id,
        UMBRELLA_GOOGLE_CLIENT_SECRET=fake_oidc.google.client_secret,
        UMBRELLA_GOOGLE_DISCOVERY_URL=fake_oidc.discovery_url,
    )
    home = tmp_path / "home"
    dev = await start_umbrella(
        "dev", "--home", str(home), "--ports", "random", "--restart-delay", "3", env=env
    )
    assert dev.stdout is not None
    try:
        banner = await read_until(dev.stdout, r"curl -H", 90)
        token = re.search(r"UMBRELLA_TOKEN=(\S+)", banner)
        assert token, banner
        base = banner_base_url(banner)
        port = int(base.rsplit(":", 1)[1])
        auth = {"Authorization": f"Bearer {token.group(1)}"}
        drain = asyncio.create_task(dev.stdout.read())  # keep the pipe from filling up

        timeout = aiohttp.ClientTimeout(total=20)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            # The links the api mints name the address it serves at, port included.
            link = await calendar_link(http, base, auth)
            assert link.startswith(f"{base}/v1/calendar.ics?token="), (link, base)
            async with http.get(link) as feed:
                assert feed.status == 200
            assert base == f"http://localhost:{port}"
            worker = re.search(r"Worker\s+(http://localhost:(\d+))/metrics", banner)
            assert worker, banner
            assert {port, int(worker.group(2))}.isdisjoint({8080, 8081})
            # It answers wherever `localhost` resolves (IPv6 first on many laptops).
            for *_, address in socket.getaddrinfo("localhost", port, type=socket.SOCK_STREAM):
                host = f"[{address[0]}]" if ":" in str(address[0]) else str(address[0])
                async with http.get(f"http://{host}:{port}/readyz") as ready:
                    assert ready.status == 200, host

            # A web app on Vite's dev server may call the api with credentials; others not.
            allowed = await preflight(http, base, WEB_DEV_SERVER)
            assert allowed.status == 204
            assert allowed.headers["Access-Control-Allow-Origin"] == WEB_DEV_SERVER
            assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
            foreign = await preflight(http, base, "http://localhost.evil.example:5173")
            assert foreign.status == 403
            assert "Access-Control-Allow-Origin" not in foreign.headers
            assert f"CORS       {WEB_DEV_SERVER} may call the API with credentials" in banner
            assert "UMBRELLA_CORS_ORIGINS=" in banner

        # Google sign-in started from the printed URL comes back to it, cookie and all.
        async with aiohttp.ClientSession(timeout=timeout) as browser:
            async with browser.get(f"{base}/v1/auth/login/google") as signed_in:
                body = await signed_in.text()
                assert signed_in.status == 200, (signed_in.url, body)
                assert str(signed_in.url).startswith(f"{base}/v1/auth/callback/google?")
            headers = {"Origin": WEB_DEV_SERVER}
            async with browser.get(f"{base}/v1/auth/session", headers=headers) as session:
                assert session.status == 200  # by the session cookie alone
                assert session.headers["Access-Control-Allow-Origin"] == WEB_DEV_SERVER
                assert (await session.json())["data"]["user"]["email"] == "luna.vega@example.com"

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
    # The developer's own public URL and web origins win over what `umbrella dev` derives.
    own_base = f"http://127.0.0.1:{port}"
    own_origin = "http://app.localhost:3000"
    env = clean_env(
        UMBRELLA_PUBLIC_BASE_URL=own_base,
        UMBRELLA_CORS_ORIGINS=own_origin,
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
        assert banner_base_url(banner) == own_base
        assert f"CORS       {own_origin} may call the API with credentials" in banner
        token = re.search(r"UMBRELLA_TOKEN=(\S+)", banner)
        assert token, banner
        auth = {"Authorization": f"Bearer {token.group(1)}"}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            link = await calendar_link(http, own_base, auth)
            assert link.startswith(f"{own_base}/v1/calendar.ics?token=")
            assert (await preflight(http, own_base, own_origin)).status == 204
            assert (await preflight(http, own_base, WEB_DEV_SERVER)).status == 403
        dev.send_signal(signal.SIGINT)
        await asyncio.wait_for(dev.wait(), 60)
        await drain
        assert dev.returncode == 0
    finally:
        if dev.returncode is None:
            dev.kill()
            await dev.wait()


def dev_settings(stack: DevStack, **environ: str) -> Settings:
    """The settings `umbrella dev` gives its children, with these UMBRELLA_* of the developer."""
    stack.home.mkdir(parents=True, exist_ok=True)
    stack.endpoints = StackEndpoints(
        database_url="postgresql://postgres@127.0.0.1:55432/umbrella",
        redis_url="redis://127.0.0.1:56379/0",
        s3_endpoint="http://127.0.0.1:58333",
    )
    env = _settings_env(stack, environ)
    return load_settings(**{key.removeprefix("UMBRELLA_").lower(): v for key, v in env.items()})


@pytest.mark.parametrize(
    ("ports", "environ", "port"),
    [
        (Ports(), {"UMBRELLA_PORT": "18765"}, 18765),  # the developer's port
        (Ports(api=23456), {}, 23456),  # --ports random
        (Ports(), {}, 8080),
    ],
)
def test_dev_links_name_the_port_the_api_serves(
    tmp_path: Path, ports: Ports, environ: dict[str, str], port: int
) -> None:
    settings = dev_settings(DevStack(tmp_path, ports=ports), **environ)
    base = f"http://localhost:{port}"
    assert settings.port == port
    assert settings.public_base_url == base
    assert settings.app_url == base  # review invitations, "Details" links in emails
    delivery = uuid.uuid4()
    assert unsubscribe_url(settings, delivery_id=delivery).startswith(
        f"{base}/v1/fans/unsubscribe?token="
    )
    assert feed_url(settings, "t") == f"{base}/v1/calendar.ics?token=t"
    assert settings.cors_origins == [WEB_DEV_SERVER]
    # The api listens where `localhost` resolves, not on every interface of the laptop.
    assert settings.host in {"localhost", "127.0.0.1", "::1"}


def test_dev_keeps_the_developers_own_url_and_origins(tmp_path: Path) -> None:
    own = dev_settings(
        DevStack(tmp_path),
        UMBRELLA_PUBLIC_BASE_URL="https://umbrella.tunnel.example",
        UMBRELLA_CORS_ORIGINS="http://app.localhost:3000,http://localhost:5173",
        UMBRELLA_HOST="0.0.0.0",  # noqa: S104  (reachable from a phone on the same network)
        UMBRELLA_PORT="18765",
    )
    assert own.public_base_url == "https://umbrella.tunnel.example"
    assert own.cors_origins == ["http://app.localhost:3000", "http://localhost:5173"]
    assert own.host == "0.0.0.0"  # noqa: S104
    none = dev_settings(DevStack(tmp_path), UMBRELLA_CORS_ORIGINS="")
    assert none.cors_origins == []  # an empty value allows no web origin at all
