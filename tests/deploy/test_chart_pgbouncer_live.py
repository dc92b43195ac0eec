"""The chart's pgbouncer.ini, run by a real PgBouncer in front of a real Postgres.

Only what the pod's mounts decide is changed (the listen address and port, and where the
auth file is); the rest is the file the chart renders. The api connects through it with
its own connection code (core/db.py, `pooled=True`), as it does behind `pgbouncer.enabled`.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from tests.conftest import Servers, make_settings
from tests.database import pgbouncer
from tests.deploy.chart import PGBOUNCER, merge, render
from umbrella.core import db

STATEMENT_TIMEOUT_MS = 15000  # the PGBOUNCER case's UMBRELLA_DB_STATEMENT_TIMEOUT_MS
PASSWORD = "pooled-test-password"  # a throwaway test server's


@pytest.fixture
async def role(servers: Servers) -> AsyncIterator[str]:
    """The api's database user: the one the userlist names and PgBouncer logs in as."""
    async with pgbouncer.temporary_role(
        servers.postgres_url, prefix="pooled", options=f"PASSWORD '{PASSWORD}'"
    ) as name:
        yield name


def chart_ini(*, database_url: str, listen_port: int, auth_file: Path) -> str:
    """The rendered pgbouncer.ini for this Postgres, with the pod's mounts made local."""
    server = urlsplit(database_url)
    values = merge(
        PGBOUNCER,
        {
            "pgbouncer": {
                "upstream": {
                    "host": server.hostname,
                    "port": server.port,
                    "database": server.path.lstrip("/"),
                    "sslmode": "disable",
                }
            }
        },
    )
    ini: str = render(values).get("ConfigMap", "umbrella-pgbouncer")["data"]["pgbouncer.ini"]
    for key, value in (
        ("listen_addr", "127.0.0.1"),
        ("listen_port", str(listen_port)),
        ("auth_file", str(auth_file)),
    ):
        ini, count = re.subn(rf"^{key} = .*$", f"{key} = {value}", ini, flags=re.M)
        assert count == 1, key
    return ini


@pytest.fixture
def pooler(empty_database_url: str, role: str) -> Iterator[str]:
    """PgBouncer running the chart's configuration; yields the api's DSN to it."""

    def ini(port: int, auth_file: Path) -> str:
        return chart_ini(database_url=empty_database_url, listen_port=port, auth_file=auth_file)

    with pgbouncer.serving(ini, users={role: PASSWORD}) as port:
        database = urlsplit(empty_database_url).path
        yield f"postgresql://{role}:{PASSWORD}@127.0.0.1:{port}{database}"


async def test_the_api_connects_through_the_charts_pgbouncer_with_its_settings(
    servers: Servers, empty_database_url: str, pooler: str
) -> None:
    settings = make_settings(
        servers,
        database_url=pooler,
        direct_database_url=empty_database_url,
        db_statement_cache_size=0,  # what the chart gives the api with pgbouncer.enabled
        db_statement_timeout_ms=STATEMENT_TIMEOUT_MS,
    )
    config = db.connection_config(settings, application_name="umbrella-api", pooled=True)
    assert config["dsn"] == pooler
    # Transaction pooling hands each transaction any server connection: the settings must
    # hold on all of them, which only connect_query gives (the startup parameter is dropped).
    connections = [await asyncpg.connect(**config) for _ in range(3)]
    try:
        for connection in connections:
            async with connection.transaction():
                assert await connection.fetchval("SHOW statement_timeout") == "15s"
                assert await connection.fetchval("SHOW jit") == "off"
                assert await connection.fetchval("SHOW max_parallel_workers_per_gather") == "0"
                assert await connection.fetchval("SELECT $1::int + 1", 41) == 42
    finally:
        for connection in connections:
            await connection.close()
