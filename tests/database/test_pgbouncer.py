"""The api behind PgBouncer in transaction pooling: many clients, a few server connections.

Each api pod's pool (UMBRELLA_DB_POOL_MAX_SIZE) multiplies by its replicas; behind PgBouncer
they share `default_pool_size` server connections (README "Database connections"). Only
what works per transaction survives that: no session state, no named prepared statements
(UMBRELLA_DB_STATEMENT_CACHE_SIZE=0), and settings made per server connection.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator

import aiohttp
import asyncpg
import pytest
from piccolo.engine.postgres import PostgresEngine

from tests.conftest import Servers, make_settings, start_umbrella, subprocess_env
from tests.database import pgbouncer
from tests.factories import make_artist
from tests.test_api_process import wait_ready
from umbrella.config import Settings
from umbrella.core import db as core_db
from umbrella.devstack import free_port

POOL_SIZE = 3
STATEMENT_TIMEOUT_MS = 700
CLIENTS = 12  # concurrent clients of the api: four times the server connections


@pytest.fixture
async def server_user(servers: Servers) -> AsyncIterator[str]:
    """The role PgBouncer logs into Postgres as: its server connections are told apart by it."""
    async with pgbouncer.temporary_role(
        servers.postgres_url, prefix="pooler", options="SUPERUSER"
    ) as name:
        yield name


@pytest.fixture
def pooler(database_url: str, server_user: str) -> Iterator[pgbouncer.Pooler]:
    with pgbouncer.running(
        database_url,
        server_user=server_user,
        pool_size=POOL_SIZE,
        statement_timeout_ms=STATEMENT_TIMEOUT_MS,
    ) as running:
        yield running


def pooled_settings(settings: Settings, pooler: pgbouncer.Pooler) -> Settings:
    """The api's settings behind PgBouncer, as the chart sets them with `pgbouncer.enabled`."""
    return settings.model_copy(
        update={
            "database_url": pooler.url,
            "direct_database_url": settings.database_url,
            "db_statement_cache_size": 0,
            "db_pool_max_size": 10,
        }
    )


async def _server_connections(direct: asyncpg.Connection, role: str) -> int:
    count: int = await direct.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = $1", role
    )
    return count


async def test_the_api_serves_many_clients_through_a_few_pooled_server_connections(
    settings: Settings, db: PostgresEngine, pooler: pgbouncer.Pooler
) -> None:
    artists = [await make_artist(stage_name=f"Pooled {n}") for n in range(4)]
    emails = [
        (await db.run_ddl(f"SELECT email FROM users WHERE id = '{user_id}'"))[0]["email"]
        for user_id, _ in artists
    ]
    port = free_port()
    pooled = pooled_settings(settings, pooler)
    api = await start_umbrella(
        "api",
        env=subprocess_env(
            pooled, UMBRELLA_ENV="development", UMBRELLA_PORT=str(port), UMBRELLA_HOST="127.0.0.1"
        ),
    )
    direct = await asyncpg.connect(settings.database_url)
    peak = 0
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_ready(url, api)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CLIENTS)) as http:
            tokens = []
            for email in emails:
                async with http.post(f"{url}/v1/auth/dev-login", json={"email": email}) as r:
                    assert r.status == 200, await r.text()
                    tokens.append((await r.json())["data"]["token"])

            async def client(number: int) -> list[int]:
                headers = {"Authorization": f"Bearer {tokens[number % len(tokens)]}"}
                statuses = []
                for round_ in range(6):
                    # a write in a transaction (with a transaction-scoped advisory lock) ...
                    async with http.post(
                        f"{url}/v1/files/folders",
                        json={"name": f"client {number} round {round_}"},
                        headers=headers,
                    ) as created:
                        statuses.append(created.status)
                    # ... and reads
                    async with http.get(f"{url}/v1/files/folders", headers=headers) as listed:
                        statuses.append(listed.status)
                    async with http.get(f"{url}/v1/auth/session", headers=headers) as session:
                        statuses.append(session.status)
                return statuses

            async def watch(done: asyncio.Event) -> None:
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, await _server_connections(direct, pooler.server_user))
                    await asyncio.sleep(0.01)

            done = asyncio.Event()
            watcher = asyncio.create_task(watch(done))
            results = await asyncio.gather(*(client(n) for n in range(CLIENTS)))
            done.set()
            await watcher
            # the api kept more connections open to PgBouncer than PgBouncer has to Postgres
            api_clients = await asyncio.to_thread(pooler.client_connections)
    finally:
        if api.returncode is None:
            api.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(api.communicate(), 30)
        await direct.close()

    failures = [status for statuses in results for status in statuses if status >= 300]
    assert failures == [], output.decode()[-3000:]
    assert "prepared statement" not in output.decode()
    created = await db.run_ddl("SELECT count(*) AS n FROM folders")
    assert created[0]["n"] == CLIENTS * 6
    # Postgres saw PgBouncer's few connections, never one per api connection.
    assert 1 <= peak <= POOL_SIZE
    assert api_clients > POOL_SIZE


async def test_statement_timeout_holds_through_the_pooler(
    settings: Settings, pooler: pgbouncer.Pooler
) -> None:
    # the api's own connect arguments: PgBouncer must accept every startup parameter sent
    config = core_db.connection_config(
        pooled_settings(settings, pooler), application_name="umbrella-api", pooled=True
    )
    connection = await asyncpg.connect(**config)
    try:
        assert await connection.fetchval("SHOW statement_timeout") == f"{STATEMENT_TIMEOUT_MS}ms"
        assert await connection.fetchval("SHOW jit") == "off"
        assert await connection.fetchval("SHOW max_parallel_workers_per_gather") == "0"
        with pytest.raises(asyncpg.exceptions.QueryCanceledError, match="statement timeout"):
            await connection.fetchval("SELECT pg_sleep(5)")
    finally:
        await connection.close()


async def test_named_prepared_statements_break_under_transaction_pooling(
    settings: Settings, pooler: pgbouncer.Pooler
) -> None:
    """Why UMBRELLA_DB_STATEMENT_CACHE_SIZE is 0 behind PgBouncer."""

    async def a_statement_again_while_its_server_is_taken(cache_size: int) -> int:
        client = await asyncpg.connect(pooler.url, statement_cache_size=cache_size)
        other = await asyncpg.connect(pooler.url, statement_cache_size=cache_size)
        try:
            assert await client.fetchval("SELECT $1::int + 1", 1) == 2  # on server A
            held = other.transaction()
            await held.start()  # the other client now holds server A for its transaction
            await other.execute("SELECT 1")
            try:
                again: int = await client.fetchval("SELECT $1::int + 1", 2)  # on server B
            finally:
                await held.rollback()
            return again
        finally:
            await client.close()
            await other.close()

    with pytest.raises(asyncpg.exceptions.PostgresError, match="prepared statement"):
        await a_statement_again_while_its_server_is_taken(cache_size=100)
    assert await a_statement_again_while_its_server_is_taken(cache_size=0) == 3


def test_the_direct_address_is_every_process_default_and_the_pooled_one_the_apis(
    servers: Servers,
) -> None:
    settings = make_settings(
        servers,
        database_url="postgresql://umbrella@pgbouncer:6432/umbrella",
        direct_database_url="postgresql://umbrella@postgres:5432/umbrella",
        db_statement_cache_size=0,
    )
    worker = core_db.connection_config(settings, application_name="umbrella-worker")
    api = core_db.connection_config(settings, application_name="umbrella-api", pooled=True)
    assert worker["dsn"] == "postgresql://umbrella@postgres:5432/umbrella"
    assert api["dsn"] == "postgresql://umbrella@pgbouncer:6432/umbrella"
    assert api["statement_cache_size"] == worker["statement_cache_size"] == 0
    # PgBouncer refuses startup parameters it does not track: behind it, only those go
    assert set(api["server_settings"]) == {"application_name", "timezone", "statement_timeout"}
    assert worker["server_settings"]["jit"] == "off"

    without_pooler = make_settings(servers, database_url="postgresql://umbrella@postgres/u")
    api_direct = core_db.connection_config(
        without_pooler, application_name="umbrella-api", pooled=True
    )
    assert api_direct["dsn"] == "postgresql://umbrella@postgres/u"
    assert api_direct["server_settings"]["jit"] == "off"
    assert api_direct["statement_cache_size"] == 100
