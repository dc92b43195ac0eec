"""The image that ships, built from this checkout and run as the chart's pods run it.

Every process runs as UID 10001 with a read-only root, a 256 MiB tmpfs /tmp, no
capabilities and no new privileges, against this test's Postgres, Redis and S3 on
loopback. The base image is a stand-in built from Debian's packages where the official
`python:3.11-slim-bookworm` cannot be pulled (tests/image/oci.py).
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from piccolo.engine.postgres import PostgresEngine
from redis.asyncio import Redis

from tests.conftest import subprocess_env
from tests.factories import make_user
from tests.fakes.resend import FakeResend, use_fake_resend
from tests.image.conftest import Built
from tests.image.oci import Container, Unpacked, image_config
from tests.test_api_process import wait_ready
from tests.workers import eventually, notification_status
from umbrella.accounts.service import SessionStore
from umbrella.config import Settings
from umbrella.devstack import free_port
from umbrella.notifications.service import notify_user
from umbrella.observability.metrics import Metrics

# The first test builds both images (about two minutes here, more on a fresh machine).
pytestmark = pytest.mark.timeout(1800)

MB = 1_000_000
# What an image reviewer refuses to find in a runtime image: compilers anywhere; installers
# in our virtualenv (the base image's own pip is the official image's, left as it is).
COMPILERS = ("gcc", "cc", "g++", "c++", "make", "ld")
SITE_PACKAGES = "opt/venv/lib/python3.11/site-packages"


def pod_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The UMBRELLA_* settings of this test, as the chart's ConfigMap and Secret give them."""
    env = {k: v for k, v in subprocess_env(settings).items() if k.startswith("UMBRELLA_")}
    return env | extra


def test_the_image_is_what_a_reviewer_expects(built: Built, capsys: pytest.CaptureFixture[str]):
    config = image_config(built.runtime.name)["config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["umbrella"]
    assert config["WorkingDir"] == "/app"
    labels = config["Labels"]
    for name in ("title", "version", "revision", "created", "source", "base.name"):
        assert labels.get(f"org.opencontainers.image.{name}"), f"label {name} is empty"
    assert labels["org.opencontainers.image.base.name"] == "python:3.11-slim-bookworm"
    assert labels["org.opencontainers.image.version"] == built.build_args["VERSION"]
    assert labels["org.opencontainers.image.revision"] == built.build_args["REVISION"]

    rootfs = built.runtime.rootfs
    for directory in ("usr/bin", "usr/local/bin", "opt/venv/bin"):
        for tool in COMPILERS:
            assert not (rootfs / directory / tool).exists(), f"/{directory}/{tool} in runtime"
    site = rootfs / SITE_PACKAGES
    for package in ("pip", "setuptools", "wheel", "tests", "_distutils_hack"):
        assert not (site / package).exists(), f"{package} in the runtime virtualenv"
    assert not list((rootfs / "opt/venv/bin").glob("pip*"))
    assert (site / "umbrella/__init__.py").stat().st_size > 0
    # The load generator and its dataset's targets are a developer's tool, never shipped.
    assert not (site / "umbrella_bench").exists(), "the load benchmark in the runtime image"
    assert not (site / "umbrella/bench").exists(), "the load benchmark in the runtime image"
    # No source tree but the migrations; no pytest or test fakes shipped.
    assert not (rootfs / "app/umbrella").exists()
    assert not (rootfs / "src").exists()
    assert (rootfs / "app/migrations").is_dir()

    layers = built.runtime.compressed_bytes()
    with capsys.disabled():
        print(
            "\nruntime image: "
            f"{sum(layers) / MB:.0f} MB compressed ({len(layers)} layers, "
            f"{sum(layers[1:]) / MB:.0f} MB above the base), "
            f"{built.runtime.uncompressed_bytes() / MB:.0f} MB uncompressed "
            f"(virtualenv {built.runtime.uncompressed_bytes('opt/venv') / MB:.0f} MB); "
            f"dev image {sum(built.dev.compressed_bytes()) / MB:.0f} MB compressed; "
            f"stand-in base: {built.base_is_stand_in}; seconds: {built.seconds}"
        )


async def test_version_and_help_start_cleanly(built: Built, containers: Path) -> None:
    code, stdout, stderr = await Container(
        built.runtime, ["--version"], env={}, work=containers
    ).run()
    assert (code, stderr) == (0, "")
    assert stdout.strip() == f"umbrella {built.build_args['VERSION']}"
    code, stdout, stderr = await Container(built.runtime, ["--help"], env={}, work=containers).run()
    assert code == 0, stderr
    for command in ("api", "worker", "cron", "migrate", "admin"):
        assert command in stdout


async def test_migrate_applies_everything_then_nothing(
    built: Built, settings: Settings, empty_database_url: str, containers: Path
) -> None:
    env = pod_env(settings, UMBRELLA_DATABASE_URL=empty_database_url)
    code, first, stderr = await Container(
        built.runtime, ["migrate"], env=env, work=containers
    ).run()
    assert code == 0, first + stderr
    assert first.startswith("applied "), first
    code, second, stderr = await Container(
        built.runtime, ["migrate"], env=env, work=containers
    ).run()
    assert code == 0, second + stderr
    assert second.strip() == "database is up to date"
    assert "Unable to fetch server version" not in stderr
    connection = await asyncpg.connect(empty_database_url)
    try:
        assert await connection.fetchval("SELECT count(*) FROM pgqueuer") == 0
    finally:
        await connection.close()


async def serve_sign_in_and_drain(
    image: Unpacked, settings: Settings, redis: Redis, containers: Path, *, read_only: bool
) -> str:
    """Start `api`, wait for /readyz, sign in, SIGTERM: 503 while draining, exit 0."""
    user_id = await make_user(email="image@example.com")
    token = (
        await SessionStore(redis=redis, metrics=Metrics(), ttl_seconds=600).create(user_id=user_id)
    ).token
    port = free_port()
    env = pod_env(
        settings,
        UMBRELLA_HOST="127.0.0.1",
        UMBRELLA_PORT=str(port),
        UMBRELLA_SHUTDOWN_DELAY_SECONDS="2",
        UMBRELLA_SHUTDOWN_GRACE_SECONDS="5",
    )
    container = Container(image, ["api"], env=env, read_only=read_only, work=containers)
    url = f"http://127.0.0.1:{port}"
    async with container.running() as api, aiohttp.ClientSession() as http:
        try:
            await wait_ready(url, api.process)
        except AssertionError as not_ready:
            if api.process.returncode is None:
                raise
            raise AssertionError(f"{not_ready}:\n{(await api.exited())[1][-3000:]}") from None
        headers = {"Authorization": f"Bearer {token}"}
        async with http.get(f"{url}/v1/auth/session", headers=headers) as session:
            assert session.status == 200
            assert (await session.json())["data"]["user"]["email"] == "image@example.com"

        api.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(5):
            while True:
                async with http.get(f"{url}/readyz") as draining:
                    if draining.status == 503:
                        break
                await asyncio.sleep(0.1)
        async with http.get(f"{url}/livez") as alive:
            assert alive.status == 200, "still serving while the endpoints update"
        code, logs = await api.exited()
    assert code == 0, logs[-3000:]
    return logs


async def test_api_serves_a_signed_in_request_then_drains_on_sigterm(
    built: Built, settings: Settings, db: PostgresEngine, redis_client: Redis, containers: Path
) -> None:
    logs = await serve_sign_in_and_drain(
        built.runtime, settings, redis_client, containers, read_only=True
    )
    assert "Traceback" not in logs
    assert "Unable to fetch server version" not in logs


async def test_worker_sends_a_queued_email(
    built: Built, settings: Settings, db: PostgresEngine, fake_resend: FakeResend, containers: Path
) -> None:
    user_id = await make_user(email="queued@example.com")
    [notification_id] = await notify_user(user_id=user_id, kind="welcome", payload={"name": "Ada"})
    env = pod_env(
        use_fake_resend(settings, fake_resend),
        UMBRELLA_WORKER_METRICS_PORT=str(free_port()),
        UMBRELLA_SHUTDOWN_GRACE_SECONDS="5",
    )
    container = Container(built.runtime, ["worker"], env=env, work=containers)
    async with container.running() as worker:

        async def sent() -> bool:
            return await notification_status(notification_id) == "sent"

        await eventually(sent, what="the worker in the image sent the email", seconds=60)
        worker.process.send_signal(signal.SIGTERM)
        code, logs = await worker.exited()
    assert code == 0, logs[-3000:]
    [email] = fake_resend.sent
    assert email["to"] == ["queued@example.com"]


async def test_a_cron_job_records_its_run(
    built: Built, settings: Settings, db: PostgresEngine, containers: Path
) -> None:
    code, stdout, stderr = await Container(
        built.runtime, ["cron", "sessions-cleanup"], env=pod_env(settings),
        work=containers,
    ).run()  # fmt: skip
    assert code == 0, stdout + stderr
    [run] = await db.run_ddl(
        "SELECT job, outcome, finished_at FROM cron_runs WHERE job = 'sessions-cleanup'"
    )
    assert run["outcome"] == "succeeded"
    assert run["finished_at"] is not None


async def test_the_dev_image_runs_the_api_under_watchfiles_and_has_pip(
    built: Built, settings: Settings, db: PostgresEngine, redis_client: Redis, containers: Path
) -> None:
    # Tilt's live_update installs a changed pyproject.toml with the virtualenv's own pip.
    code, stdout, stderr = await Container(
        built.dev, ["-m", "pip", "--version"], command=["/opt/venv/bin/python"], env={},
        read_only=False, work=containers,
    ).run()  # fmt: skip
    assert code == 0, stderr
    assert "/opt/venv/" in stdout
    assert (built.dev.rootfs / "opt/venv/bin/pip").exists()
    assert (built.dev.rootfs / "app/umbrella/__init__.py").stat().st_size > 0
    assert not (built.dev.rootfs / "app/umbrella_bench").exists()
    logs = await serve_sign_in_and_drain(
        built.dev, settings, redis_client, containers, read_only=False
    )
    assert "watchfiles" in logs.lower()
