"""`umbrella worker` outlives a Postgres outage: it waits, stays alive, and resumes."""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
import asyncpg
from pgqueuer import Queries
from pgqueuer.db import AsyncpgDriver
from redis.asyncio import Redis

from tests.conftest import start_umbrella, subprocess_env
from umbrella.accounts.service import PURGE_SESSION_CACHE_JOB, cache_key
from umbrella.config import Settings
from umbrella.core.migrations import migrate
from umbrella.devstack import DevStack

OUTAGE_SECONDS = 4.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def livez(url: str) -> int | None:
    timeout = aiohttp.ClientTimeout(total=2)
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(url, timeout=timeout) as response,
        ):
            return response.status
    except aiohttp.ClientError:
        return None


async def enqueue_purge(database_url: str, token_hash: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        payload = json.dumps({"token_hashes": [token_hash]}).encode()
        await Queries(AsyncpgDriver(connection)).enqueue(PURGE_SESSION_CACHE_JOB, payload)
    finally:
        await connection.close()


async def test_the_worker_waits_for_postgres_and_runs_jobs_queued_after_it_is_back(
    settings: Settings, own_postgres: DevStack, redis_client: Redis
) -> None:
    database_url = str(own_postgres.endpoints.database_url)
    configured = settings.model_copy(
        update={"database_url": database_url, "db_connect_timeout_seconds": 1.0}
    )
    await migrate(configured)
    port = free_port()
    process = await start_umbrella(
        "worker",
        env=subprocess_env(configured, UMBRELLA_WORKER_METRICS_PORT=str(port)),
    )
    url = f"http://127.0.0.1:{port}/livez"
    try:
        async with asyncio.timeout(30):
            while await livez(url) != 200:
                assert process.returncode is None, "the worker did not start"
                await asyncio.sleep(0.2)

        await asyncio.to_thread(own_postgres.processes["postgres"].stop)
        for _ in range(int(OUTAGE_SECONDS / 0.5)):
            await asyncio.sleep(0.5)
            assert process.returncode is None, "the worker exited when Postgres went away"
        assert await livez(url) == 200, "liveness failed while the worker waits for Postgres"
        await asyncio.to_thread(own_postgres.restart, "postgres")

        await redis_client.set(cache_key("f" * 64), "{}")
        await enqueue_purge(database_url, "f" * 64)
        async with asyncio.timeout(30):
            while await redis_client.exists(cache_key("f" * 64)):
                assert process.returncode is None, "the worker exited"
                await asyncio.sleep(0.2)
    finally:
        if process.returncode is None:
            process.terminate()
        output = (await asyncio.wait_for(process.communicate(), 30))[0].decode()
    assert process.returncode == 0, output
    ours = [
        json.loads(line)
        for line in output.splitlines()
        if line.startswith("{") and json.loads(line)["logger"].startswith("umbrella.")
    ]
    waiting = [entry for entry in ours if "waiting for postgres" in entry["msg"]]
    assert len(waiting) == 1, f"expected one line for the outage:\n{output}"
    assert not [entry for entry in ours if "exc" in entry], f"a traceback of ours:\n{output}"
