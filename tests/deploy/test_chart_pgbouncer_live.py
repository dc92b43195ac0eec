"""The chart's pgbouncer.ini, run by a real PgBouncer in front of a real Postgres.

Only what the pod's mounts decide is changed (the listen address and port, and where the
auth file is); the rest is the file the chart renders. The api connects through it with
its own connection code (core/db.py, `pooled=True`), as it does behind `pgbouncer.enabled`.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from tests.conftest import Servers, make_settings
from tests.deploy.chart import PGBOUNCER, merge, render
from umbrella.core import db
from umbrella.devstack import free_port

BINARY = Path("/usr/sbin/pgbouncer")  # Debian's pgbouncer (scripts/install-test-tools.sh)
STATEMENT_TIMEOUT_MS = 15000  # the PGBOUNCER case's UMBRELLA_DB_STATEMENT_TIMEOUT_MS
PASSWORD = "pooled-test-password"  # a throwaway test server's


def pgbouncer_binary() -> str:
    found = str(BINARY) if BINARY.is_file() else shutil.which("pgbouncer")
    if found is None:
        if os.environ.get("CI"):
            raise FileNotFoundError("pgbouncer is not installed")
        pytest.skip("pgbouncer is not installed: scripts/install-test-tools.sh installs it")
    return found


@pytest.fixture
async def role(servers: Servers) -> AsyncIterator[str]:
    """The api's database user: the one the userlist names and PgBouncer logs in as."""
    name = f"pooled_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(servers.postgres_url)
    try:
        await admin.execute(f"CREATE ROLE {name} LOGIN PASSWORD '{PASSWORD}'")
        yield name
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name
        )
        await admin.execute(f"DROP ROLE {name}")
    finally:
        await admin.close()


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
    # Not under pytest's tmp_path: PgBouncer may run as `nobody`, who must reach the files.
    home = Path(tempfile.mkdtemp(prefix="umbrella-chart-pgbouncer-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        home.chmod(0o755)
        auth_file = home / "userlist.txt"
        auth_file.write_text(f'"{role}" "{PASSWORD}"\n')
        port = free_port()
        ini = home / "pgbouncer.ini"
        ini.write_text(
            chart_ini(database_url=empty_database_url, listen_port=port, auth_file=auth_file)
        )
        for path in (auth_file, ini):
            path.chmod(0o644)
        # PgBouncer refuses to run as root.
        user = pwd.getpwnam("nobody") if os.geteuid() == 0 else None
        log_path = home / "pgbouncer.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [pgbouncer_binary(), str(ini)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                user=user.pw_uid if user else None, group=user.pw_gid if user else None,
            )  # fmt: skip
        _wait_listening(process, port, log_path)
        database = urlsplit(empty_database_url).path
        yield f"postgresql://{role}:{PASSWORD}@127.0.0.1:{port}{database}"
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(home, ignore_errors=True)


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 15
    while True:
        if process.poll() is not None:
            pytest.fail(f"pgbouncer exited ({process.returncode}):\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"pgbouncer did not listen within 15 s:\n{log.read_text()}")
            time.sleep(0.05)


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
