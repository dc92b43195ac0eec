"""A real PgBouncer (Debian's `pgbouncer`) in transaction pooling, as the chart runs it.

scripts/install-test-tools.sh installs it (`make test` runs that). Without the binary the
tests using it skip on a developer's machine and fail in CI, where it must be installed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from umbrella.devstack import free_port, postgres_bin

BINARY = Path("/usr/sbin/pgbouncer")
# PgBouncer refuses to run as root; `nobody` exists on every Debian system.
UNPRIVILEGED_USER = "nobody"
CLIENT_USER = "umbrella"
CLIENT_PASSWORD = "pooled-test-password"  # a throwaway test server's


def binary() -> str:
    """The pgbouncer executable; skips without it, except in CI where it is a failure."""
    found = str(BINARY) if BINARY.is_file() else shutil.which("pgbouncer")
    if found is not None:
        return found
    reason = "pgbouncer is not installed: scripts/install-test-tools.sh installs it (apt)"
    if os.environ.get("CI"):
        raise FileNotFoundError(reason)
    pytest.skip(reason)


@dataclass(frozen=True)
class Pooler:
    port: int
    database: str
    server_user: str
    pool_size: int
    statement_timeout_ms: int

    @property
    def url(self) -> str:
        """The DSN a client (the api) uses: PgBouncer's address and its own user."""
        return f"postgresql://{CLIENT_USER}:{CLIENT_PASSWORD}@127.0.0.1:{self.port}/{self.database}"

    def client_connections(self) -> int:
        """Clients connected to PgBouncer for our database (its admin console's SHOW CLIENTS)."""
        # The admin console speaks the simple query protocol only: psql, not asyncpg.
        result = subprocess.run(
            [str(postgres_bin() / "psql"), "-X", "-t", "-A", "-F", "|",
             "-h", "127.0.0.1", "-p", str(self.port), "-U", CLIENT_USER, "-d", "pgbouncer",
             "-c", "SHOW CLIENTS"],
            env={**os.environ, "PGPASSWORD": CLIENT_PASSWORD},
            capture_output=True, text=True, timeout=10, check=True,
        )  # fmt: skip
        rows = [line.split("|") for line in result.stdout.splitlines() if line]
        return sum(1 for row in rows if row[2] == self.database)  # type, user, database, …


def config(
    *, listen_port: int, server_url: str, server_user: str, auth_file: Path, pool_size: int,
    statement_timeout_ms: int,
) -> str:  # fmt: skip
    """pgbouncer.ini with the settings README "Database connections" asks of any PgBouncer."""
    server = urlsplit(server_url)
    database = server.path.lstrip("/")
    # statement_timeout is a startup parameter PgBouncer cannot pass on: set per server
    # connection instead, with the settings the api sends directly to Postgres otherwise.
    connect_query = (
        f"SET statement_timeout = {statement_timeout_ms}; SET jit = off; "
        "SET max_parallel_workers_per_gather = 0"
    )
    return f"""\
[databases]
{database} = host={server.hostname} port={server.port} dbname={database} user={server_user} connect_query='{connect_query}'

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen_port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {auth_file}
pool_mode = transaction
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 200
ignore_startup_parameters = extra_float_digits,statement_timeout
admin_users = {CLIENT_USER}
"""  # noqa: E501


@contextmanager
def running(
    server_url: str, *, server_user: str, pool_size: int, statement_timeout_ms: int
) -> Iterator[Pooler]:
    """Start PgBouncer in front of the database of `server_url`, stop it on exit."""

    def ini(port: int, auth_file: Path) -> str:
        return config(
            listen_port=port, server_url=server_url, server_user=server_user,
            auth_file=auth_file, pool_size=pool_size, statement_timeout_ms=statement_timeout_ms,
        )  # fmt: skip

    with serving(ini, users={CLIENT_USER: CLIENT_PASSWORD}) as port:
        yield Pooler(
            port=port,
            database=urlsplit(server_url).path.lstrip("/"),
            server_user=server_user,
            pool_size=pool_size,
            statement_timeout_ms=statement_timeout_ms,
        )


@contextmanager
def serving(ini: Callable[[int, Path], str], *, users: dict[str, str]) -> Iterator[int]:
    """Run PgBouncer with the configuration `ini(listen_port, auth_file)` and an auth file
    of `users` (name → password); yield its port, stop it on exit."""
    executable = binary()
    # Not under pytest's tmp_path: PgBouncer runs as an unprivileged user, who must reach it.
    home = Path(tempfile.mkdtemp(prefix="umbrella-pgbouncer-"))
    home.chmod(0o755)
    process: subprocess.Popen[bytes] | None = None
    try:
        auth_file = home / "userlist.txt"
        auth_file.write_text("".join(f'"{name}" "{word}"\n' for name, word in users.items()))
        port = free_port()
        config_file = home / "pgbouncer.ini"
        config_file.write_text(ini(port, auth_file))
        for path in (auth_file, config_file):
            path.chmod(0o644)
        user = pwd.getpwnam(UNPRIVILEGED_USER) if os.geteuid() == 0 else None
        log = (home / "pgbouncer.log").open("wb")
        process = subprocess.Popen(
            [executable, str(config_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
        )
        log.close()
        _wait_listening(port, process, home / "pgbouncer.log")
        yield port
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # PgBouncer's immediate shutdown
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(home, ignore_errors=True)


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited ({process.returncode}):\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"pgbouncer did not listen within 15 s:\n{log.read_text()}")


@asynccontextmanager
async def temporary_role(postgres_url: str, *, prefix: str, options: str) -> AsyncIterator[str]:
    """A login role of its own (`CREATE ROLE <name> LOGIN <options>`), by which a test tells
    its PgBouncer's server connections apart; dropped, its sessions ended, on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(postgres_url)
    try:
        await admin.execute(f"CREATE ROLE {name} LOGIN {options}")
        yield name
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name
        )
        await admin.execute(f"DROP ROLE {name}")
    finally:
        await admin.close()
