"""Real Postgres, Redis and S3 for every test, each test in its own database and bucket.

The servers come from the pip packages (see umbrella/devstack.py), or from the URLs in
UMBRELLA_DATABASE_URL / UMBRELLA_REDIS_URL / UMBRELLA_S3_ENDPOINT when those are set:
tests then create and drop their own databases on that server and flush the Redis
database they are given.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from piccolo.engine.postgres import PostgresEngine
from pydantic import SecretStr
from redis.asyncio import Redis

from umbrella.config import Environment, LogFormat, Settings, load_settings
from umbrella.core import db as core_db
from umbrella.core.migrations import migrate
from umbrella.devstack import DevStack, Ports

REPO_ROOT = Path(__file__).resolve().parents[1]

# Fixtures of the provider fakes (tests/fakes/): resend, twilio, anthropic, oidc.
pytest_plugins = [
    "tests.fakes.resend",
    "tests.fakes.twilio",
    "tests.fakes.anthropic",
    "tests.fakes.oidc",
]
TEST_SECRET_KEY = secrets.token_urlsafe(32)


@dataclass
class Servers:
    """Where the test servers are: a Postgres server (any database), Redis and S3."""

    postgres_url: str
    redis_url: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    stack: DevStack | None

    def database_url(self, name: str) -> str:
        parts = urlsplit(self.postgres_url)
        return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def _own_redis_db(url: str) -> str:
    """The Redis URL of this test process: parallel workers (pytest-xdist `gwN`) each flush
    a database of their own, the one named in the URL plus N."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    offset = int(worker.removeprefix("gw") or 0)
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit((parts.scheme, parts.netloc, f"/{base + offset}", parts.query, ""))


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    given_db = os.environ.get("UMBRELLA_DATABASE_URL")
    given_redis = os.environ.get("UMBRELLA_REDIS_URL")
    if given_redis:
        given_redis = _own_redis_db(given_redis)
    given_s3 = os.environ.get("UMBRELLA_S3_ENDPOINT")
    stack = DevStack(
        tmp_path_factory.mktemp("stack"),
        ports=Ports.random(),
        durable=False,
        start_postgres=given_db is None,
        start_redis=given_redis is None,
        start_s3=given_s3 is None,
    )
    endpoints = stack.start()
    try:
        yield Servers(
            postgres_url=given_db or str(endpoints.database_url),
            redis_url=given_redis or str(endpoints.redis_url),
            s3_endpoint=given_s3 or str(endpoints.s3_endpoint),
            s3_access_key=os.environ.get("UMBRELLA_S3_ACCESS_KEY", endpoints.s3_access_key)
            if given_s3
            else endpoints.s3_access_key,
            s3_secret_key=os.environ.get("UMBRELLA_S3_SECRET_KEY", endpoints.s3_secret_key)
            if given_s3
            else endpoints.s3_secret_key,
            stack=stack,
        )
    finally:
        stack.stop()


def make_settings(servers: Servers, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": Environment.TEST,
        "database_url": servers.postgres_url,
        "redis_url": servers.redis_url,
        "s3_endpoint": servers.s3_endpoint,
        "s3_access_key": servers.s3_access_key,
        "s3_secret_key": servers.s3_secret_key,
        "s3_bucket": f"test-{uuid.uuid4().hex[:16]}",
        "s3_create_bucket": True,
        "session_cookie_secure": False,
        "log_format": LogFormat.CONSOLE,
        "db_pool_min_size": 1,
        "db_pool_max_size": 5,
        "shutdown_grace_seconds": 5.0,
        "secret_key": TEST_SECRET_KEY,
        # Tests that exercise a provider point these at its fake in tests/fakes/.
        "email_backend": "console",
        "sms_backend": "console",
    }
    values.update(overrides)
    return load_settings(**values)


async def _admin(servers: Servers) -> asyncpg.Connection:
    return await asyncpg.connect(servers.postgres_url)


async def create_database(servers: Servers, *, template: str | None = None) -> str:
    name = f"test_{uuid.uuid4().hex[:12]}"
    connection = await _admin(servers)
    try:
        template_sql = f' TEMPLATE "{template}"' if template else ""
        await connection.execute(f'CREATE DATABASE "{name}"{template_sql}')
    finally:
        await connection.close()
    return name


async def drop_database(servers: Servers, name: str) -> None:
    connection = await _admin(servers)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture(scope="session")
async def template_database(servers: Servers) -> AsyncIterator[str]:
    """A database with every migration applied, cloned for each test (fast, and isolated)."""
    name = await create_database(servers)
    await migrate(make_settings(servers, database_url=servers.database_url(name)))
    yield name
    await drop_database(servers, name)


@pytest.fixture
async def empty_database_url(servers: Servers) -> AsyncIterator[str]:
    name = await create_database(servers)
    yield servers.database_url(name)
    await drop_database(servers, name)


@pytest.fixture
async def database_url(servers: Servers, template_database: str) -> AsyncIterator[str]:
    name = await create_database(servers, template=template_database)
    yield servers.database_url(name)
    await drop_database(servers, name)


@pytest.fixture
async def redis_client(servers: Servers) -> AsyncIterator[Redis]:
    client = Redis.from_url(servers.redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def settings(servers: Servers, database_url: str, redis_client: Redis) -> Settings:
    """Settings for one test: its own migrated database, an empty Redis db, its own bucket."""
    return make_settings(servers, database_url=database_url)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[PostgresEngine]:
    """The Piccolo engine with a pool open on this test's database."""
    async with core_db.database(settings, application_name="umbrella-tests") as engine:
        yield engine


async def start_client(app: web.Application) -> TestClient[web.Request, web.Application]:
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def app(settings: Settings) -> web.Application:
    from umbrella.app import create_app

    return create_app(settings)


@pytest.fixture
async def client(
    app: web.Application,
) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """An HTTP client for the API of this test (started with every resource)."""
    test_client = await start_client(app)
    yield test_client
    await test_client.close()


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any UMBRELLA_* a developer may have set."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("UMBRELLA_")}
    env.update(extra)
    return env


def _env_value(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def subprocess_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that makes an `umbrella` subprocess use exactly these settings."""
    env = clean_env()
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"UMBRELLA_{name.upper()}"] = _env_value(value)
    env.update({"UMBRELLA_LOG_FORMAT": "json", "UMBRELLA_DB_POOL_MIN_SIZE": "1"})
    env.update(extra)
    return env


def _own_server(home: Path, name: str) -> Iterator[DevStack]:
    """One server (postgres, redis or s3) of a test's own, which it may stop and restart."""
    stack = DevStack(
        home / name,
        ports=Ports.random(),
        durable=False,
        start_postgres=name == "postgres",
        start_redis=name == "redis",
        start_s3=name == "s3",
    )
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[DevStack]:
    yield from _own_server(tmp_path, "redis")


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[DevStack]:
    yield from _own_server(tmp_path, "postgres")


@pytest.fixture
def own_s3(tmp_path: Path) -> Iterator[DevStack]:
    yield from _own_server(tmp_path, "s3")


@dataclass
class Completed:
    code: int
    stdout: str
    stderr: str


async def start_umbrella(
    *args: str, env: dict[str, str], stderr: int = asyncio.subprocess.STDOUT
) -> asyncio.subprocess.Process:
    """Start the real `umbrella` command line (output piped, stderr merged unless asked)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "umbrella",
        *args,
        env=env,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
    )


async def run_umbrella(*args: str, env: dict[str, str], timeout: float = 60) -> Completed:
    """Run the real `umbrella` command line to completion."""
    process = await start_umbrella(*args, env=env, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return Completed(process.returncode, stdout.decode(), stderr.decode())
