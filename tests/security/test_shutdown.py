"""SIGTERM under load: not one request fails, and no job is lost or run twice.

The api test runs two real `umbrella api` processes behind a small client-side balancer
that does what a Kubernetes Service does: it sends each request to a replica whose
`/readyz` passed at its last probe, and a refused connection (nothing was sent) is tried
on the other replica, as kube-proxy would. One replica gets SIGTERM mid-load.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
from typing import Any
from uuid import UUID

import aiohttp
from piccolo.engine.postgres import PostgresEngine
from redis.asyncio import Redis

from tests.conftest import start_umbrella, subprocess_env
from tests.factories import make_user
from tests.fakes.resend import FakeResend, use_fake_resend
from tests.security.chaos import Load, make_cast, stored_messages
from tests.test_api_process import wait_ready
from tests.workers import eventually, notification_status, queue_rows
from umbrella.accounts.service import SessionStore
from umbrella.config import Settings
from umbrella.devstack import free_port
from umbrella.notifications.service import notify_user
from umbrella.observability.metrics import Metrics

CONCURRENCY = 12
PROBE_PERIOD = 0.1  # the balancer's readiness probe; the api fails /readyz for 10 of them


class Balancer:
    """Ready replicas in turn, as a Service's endpoints; readiness probed every PROBE_PERIOD."""

    def __init__(self, http: aiohttp.ClientSession, urls: list[str]) -> None:
        self.http = http
        self.urls = urls
        self.ready = dict.fromkeys(urls, True)
        self._turn = itertools.count()
        self._probing = asyncio.create_task(self._probe())

    async def route(self) -> list[str]:
        ready = [url for url in self.urls if self.ready[url]] or self.urls
        first = next(self._turn) % len(ready)
        ordered = ready[first:] + ready[:first]
        return ordered + [url for url in self.urls if url not in ordered]

    async def _probe(self) -> None:
        while True:
            for url in self.urls:
                try:
                    async with self.http.get(
                        f"{url}/readyz", timeout=aiohttp.ClientTimeout(total=1)
                    ) as response:
                        self.ready[url] = response.status == 200
                except (aiohttp.ClientError, TimeoutError, OSError):
                    self.ready[url] = False
            await asyncio.sleep(PROBE_PERIOD)

    async def close(self) -> None:
        self._probing.cancel()
        await asyncio.gather(self._probing, return_exceptions=True)


REQUESTS_BEFORE = 300  # answered before the SIGTERM
REQUESTS_AFTER = 200  # answered by the remaining replica once the other has exited


async def _until_answered(load: Load, count: int) -> None:
    async with asyncio.timeout(60):
        while len(load.outcomes) < count:
            await asyncio.sleep(0.05)


async def test_sigterm_to_one_of_two_replicas_under_load_fails_no_request(
    settings: Settings, db: PostgresEngine, redis_client: Redis
) -> None:
    configured = settings.model_copy(
        update={
            "write_rate_limit_per_minute": 100_000,
            "write_rate_limit_per_ip_per_minute": 100_000,
            "upload_rate_limit_per_minute": 100_000,
            "upload_rate_limit_per_hour": 1_000_000,
        }
    )
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    replicas: list[asyncio.subprocess.Process] = []
    logs: list[asyncio.Task[bytes]] = []  # read all along: a full pipe would block the api
    for port, url in zip(ports, urls, strict=True):
        replica = await start_umbrella(
            "api",
            env=subprocess_env(
                configured,
                UMBRELLA_PORT=str(port),
                UMBRELLA_HOST="127.0.0.1",
                UMBRELLA_SHUTDOWN_GRACE_SECONDS="10",
                UMBRELLA_SHUTDOWN_DELAY_SECONDS="1",
            ),
        )
        replicas.append(replica)
        assert replica.stdout is not None
        logs.append(asyncio.create_task(replica.stdout.read()))
        await wait_ready(url, replica)  # one at a time, as a rollout starts them
    sessions = SessionStore(redis=redis_client, metrics=Metrics(), ttl_seconds=3600)

    async def sign_in(user_id: UUID) -> dict[str, str]:
        return {"Authorization": f"Bearer {(await sessions.create(user_id=user_id)).token}"}

    try:
        async with aiohttp.ClientSession() as http:
            cast = await make_cast(http, urls[0], sign_in, artists=4)
            balancer = Balancer(http, urls)
            load = Load(http=http, route=balancer.route, cast=cast)
            load.start(CONCURRENCY)
            try:
                # Counted in requests, not seconds: a slow machine gets the same test.
                await _until_answered(load, REQUESTS_BEFORE)
                load.phase = "draining"
                replicas[0].send_signal(signal.SIGTERM)
                await asyncio.wait_for(replicas[0].wait(), 20)
                load.phase = "after"
                await _until_answered(load, len(load.outcomes) + REQUESTS_AFTER)
            finally:
                await load.stop()
                await balancer.close()
    finally:
        for replica in replicas:
            if replica.returncode is None:
                replica.send_signal(signal.SIGTERM)
            await asyncio.wait_for(replica.wait(), 20)
        outputs = await asyncio.gather(*logs)

    summary = f"{load.summary()}; refused and retried {load.refused_and_retried}"
    assert replicas[0].returncode == 0, outputs[0].decode()[-2000:]
    assert not load.problems(), summary
    assert all(o.status in (200, 201) for o in load.outcomes), summary
    assert load.in_phase("draining"), summary
    assert load.in_phase("after"), summary
    stored = await stored_messages(load.acked_messages)
    assert stored == load.acked_messages, f"{len(stored)} stored: {summary}"


async def test_sigterm_to_the_worker_mid_job_neither_loses_nor_doubles_it(
    settings: Settings, db: PostgresEngine, fake_resend: FakeResend
) -> None:
    """The send in flight at SIGTERM ends (here: times out), is retried later, and sent once."""
    fake_resend.hang_seconds = 2.0  # the first try hangs, then fails with a 504
    providers = use_fake_resend(settings, fake_resend, email_timeout_seconds=10.0)
    user_id = await make_user(email="luna@example.com")
    [notification_id] = await notify_user(user_id=user_id, kind="welcome", payload={"name": "Luna"})
    fake_resend.fail("timeout")
    env = subprocess_env(providers, UMBRELLA_WORKER_METRICS_PORT=str(free_port()))

    first = await start_umbrella("worker", env=env)
    try:
        await eventually(_received(fake_resend), what="the worker is mid-send", seconds=30)
        first.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        assert first.returncode is None, "the worker must wait for the job in flight"
    finally:
        output, _ = await asyncio.wait_for(first.communicate(), 30)
    assert first.returncode == 0, output.decode()[-2000:]
    [job] = await queue_rows(db)
    assert job["status"] == "queued", job  # its try ended; the retry waits in the queue
    assert await notification_status(notification_id) == "queued"

    env["UMBRELLA_WORKER_METRICS_PORT"] = str(free_port())
    second = await start_umbrella("worker", env=env)
    try:

        async def sent_and_dequeued() -> bool:
            return (
                await notification_status(notification_id) == "sent" and await queue_rows(db) == []
            )

        await eventually(sent_and_dequeued, what="the retry sent it", seconds=30)
    finally:
        second.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(second.communicate(), 30)
    assert second.returncode == 0, output.decode()[-2000:]
    assert len(fake_resend.sent) == 1, fake_resend.sent
    keys = {r.headers["Idempotency-Key"] for r in fake_resend.received("/emails")}
    assert keys == {f"notification/{notification_id}"}


def _received(fake: FakeResend) -> Any:
    async def check() -> bool:
        return len(fake.received("/emails")) >= 1

    return check
