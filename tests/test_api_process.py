"""`umbrella api` as Kubernetes runs it: a process that drains in-flight requests on SIGTERM."""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import asyncpg
import pytest
from piccolo.engine.postgres import PostgresEngine

from tests.conftest import start_umbrella, subprocess_env
from tests.factories import make_user
from umbrella.config import Settings
from umbrella.devstack import free_port


async def wait_ready(url: str, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            assert process.returncode is None, "the api exited during start-up"
            try:
                async with http.get(f"{url}/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the api did not become ready")


async def test_sigterm_mid_request_finishes_it_then_exits_0(
    settings: Settings, db: PostgresEngine
) -> None:
    await make_user(email="late@example.com")
    port = free_port()
    api = await start_umbrella(
        "api",
        env=subprocess_env(
            settings,
            UMBRELLA_ENV="development",
            UMBRELLA_PORT=str(port),
            UMBRELLA_HOST="127.0.0.1",
            UMBRELLA_SHUTDOWN_GRACE_SECONDS="10",
        ),
    )
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_ready(url, api)
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{url}/v1/auth/dev-login", json={"email": "late@example.com"}
            ) as signed_in:
                token = (await signed_in.json())["data"]["token"]

            # Hold a lock the request's query needs: it is in flight, inside Postgres.
            blocker = await asyncpg.connect(settings.database_url)
            locked = blocker.transaction()
            await locked.start()
            await blocker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
            request = asyncio.create_task(
                http.get(f"{url}/v1/auth/session", headers={"Authorization": f"Bearer {token}"})
            )
            await asyncio.sleep(0.5)
            assert not request.done()

            api.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            assert api.returncode is None, "the api must wait for the request in flight"
            # No new connections once draining has begun.
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection("127.0.0.1", port)

            await locked.rollback()
            await blocker.close()
            response = await asyncio.wait_for(request, 10)
            assert response.status == 200
            assert (await response.json())["data"]["user"]["email"] == "late@example.com"
    finally:
        # a second SIGTERM (as Kubernetes may send) must not cut the drain short
        if api.returncode is None:
            api.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(api.communicate(), 20)
    assert api.returncode == 0, output.decode()[-2000:]
