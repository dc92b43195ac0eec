"""Open-loop load: requests fire at their scheduled times, latency counts from that time.

A closed loop (N workers, each waiting for its answer before sending again) slows down
with the server and so hides queueing ("coordinated omission"). Here every request has a
scheduled send time on a fixed arrival rate; it is fired then whether or not earlier ones
have finished, and its latency runs from the scheduled time, so a server (or a client
connection pool) that falls behind shows up as growing latency, not as a lower rate.
`saturate` is the closed loop, used on purpose to measure the most a server can do.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

# 304 is a success: the conversation poll answers it when nothing changed.
OK_STATUSES = frozenset([*range(200, 300), 304])
DEFAULT_TIMEOUT_SECONDS = 10.0
# Enough connections that the pool never queues at the target rates (500/s x 10 ms = 5).
DEFAULT_CONNECTION_LIMIT = 1000


@dataclass(frozen=True)
class RequestSpec:
    """One request, built before the run so the generator only sends (it shares the CPU)."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass
class Sample:
    """What happened to one scheduled request (times in seconds from the run's start)."""

    scheduled: float
    sent: float
    done: float
    status: int | None
    error: str | None

    @property
    def latency(self) -> float:
        return self.done - self.scheduled

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class LoadResult:
    """The measured part of one run (warm-up excluded); latencies in milliseconds."""

    name: str
    target_rate: float
    duration: float
    count: int
    achieved_rate: float
    errors: dict[str, int]
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    # How late the generator itself fired (event-loop lag): large values blame the client.
    send_lag_p99_ms: float | None
    distinct_requests: int = 0
    notes: list[str] = field(default_factory=list)
    # Every sample, warm-up included (for tests and a closer look; left out of the JSON).
    samples: list[Sample] = field(default_factory=list, repr=False)
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.name,
            "target_rate": self.target_rate,
            "duration_s": self.duration,
            "count": self.count,
            "achieved_rate": round(self.achieved_rate, 2),
            "errors": dict(self.errors),
            "error_count": self.error_count,
            "p50_ms": _rounded(self.p50_ms),
            "p95_ms": _rounded(self.p95_ms),
            "p99_ms": _rounded(self.p99_ms),
            "max_ms": _rounded(self.max_ms),
            "send_lag_p99_ms": _rounded(self.send_lag_p99_ms),
            "statuses": dict(self.statuses),
            "distinct_requests": self.distinct_requests,
            "notes": list(self.notes),
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """The nearest-rank percentile of sorted values: exact, always a real sample."""
    if not sorted_values:
        return None
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    rank = math.ceil(p / 100 * len(sorted_values))
    return sorted_values[max(rank, 1) - 1]


def error_kind(status: int | None, exception: BaseException | None) -> str | None:
    """How a request failed ("http_500", "timeout", "ClientConnectorError"), None if it did not."""
    if exception is not None:
        if isinstance(exception, asyncio.TimeoutError | TimeoutError):
            return "timeout"
        return type(exception).__name__
    if status is None or status not in OK_STATUSES:
        return f"http_{status}"
    return None


async def _send(
    session: aiohttp.ClientSession, spec: RequestSpec
) -> tuple[int | None, BaseException | None]:
    """One request: its status, or the error that stopped it."""
    try:
        async with session.request(
            spec.method, spec.url, headers=spec.headers, data=spec.body
        ) as response:
            # The whole body, so latency includes the transfer as a browser would see it.
            await response.read()
            return response.status, None
    except (aiohttp.ClientError, TimeoutError, OSError) as error:
        return None, error


async def _fire(
    session: aiohttp.ClientSession, spec: RequestSpec, scheduled: float, origin: float
) -> Sample:
    sent = time.perf_counter() - origin
    status, failure = await _send(session, spec)
    done = time.perf_counter() - origin
    return Sample(scheduled, sent, done, status, error_kind(status, failure))


def client_session(
    *, connection_limit: int = DEFAULT_CONNECTION_LIMIT, timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> aiohttp.ClientSession:
    """One session for a whole run: kept-alive connections, no cookie jar (headers carry auth)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connection_limit, limit_per_host=connection_limit),
        timeout=aiohttp.ClientTimeout(total=timeout),
        cookie_jar=aiohttp.DummyCookieJar(),
        # The generator must not spend CPU on what it never reads.
        auto_decompress=False,
    )


async def run_open_loop(
    name: str,
    specs: Sequence[RequestSpec],
    *,
    rate: float,
    duration: float,
    warmup: float = 2.0,
    session: aiohttp.ClientSession | None = None,
    connection_limit: int = DEFAULT_CONNECTION_LIMIT,
    request_timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> LoadResult:
    """Send `specs` round-robin at `rate` per second for `warmup + duration` seconds.

    Request i is scheduled at `i / rate`; the scheduler wakes, fires every request whose
    time has come as its own task and sleeps to the next one, so it never waits for answers.
    Only requests scheduled after the warm-up are reported.
    """
    if not specs:
        raise ValueError(f"scenario {name} has no requests")
    if rate <= 0 or duration <= 0:
        raise ValueError("rate and duration must be positive")
    own_session = session is None
    http = session or client_session(connection_limit=connection_limit, timeout=request_timeout)
    total = round((warmup + duration) * rate)
    interval = 1.0 / rate
    tasks: list[asyncio.Task[Sample]] = []
    try:
        origin = time.perf_counter()
        index = 0
        while index < total:
            now = time.perf_counter() - origin
            # Everything due fires now: a late wake-up must not lower the arrival rate.
            while index < total and index * interval <= now:
                spec = specs[index % len(specs)]
                tasks.append(asyncio.create_task(_fire(http, spec, index * interval, origin)))
                index += 1
            if index < total:
                await asyncio.sleep(max(0.0, index * interval - (time.perf_counter() - origin)))
        samples = await asyncio.gather(*tasks)
    finally:
        if own_session:
            await http.close()
    result = summarise(
        name, samples, rate=rate, warmup=warmup, duration=duration, timeout=request_timeout
    )
    result.distinct_requests = len({(spec.method, spec.url, spec.body) for spec in specs})
    return result


def summarise(
    name: str,
    samples: Sequence[Sample],
    *,
    rate: float,
    warmup: float,
    duration: float,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> LoadResult:
    """Per-run figures from the samples scheduled inside the measured window."""
    end = warmup + duration
    measured = [s for s in samples if warmup <= s.scheduled < end]
    errors = Counter(s.error for s in measured if s.error is not None)
    # Every answer counts towards latency (a fast 500 is still an answer); exceptions do not.
    latencies = sorted(s.latency * 1000 for s in measured if s.status is not None)
    lags = sorted((s.sent - s.scheduled) * 1000 for s in measured)
    # Throughput as the server delivered it: answers completed inside the window.
    completed = sum(1 for s in samples if s.status is not None and warmup <= s.done < end)
    result = LoadResult(
        name=name,
        target_rate=rate,
        duration=duration,
        count=len(measured),
        achieved_rate=completed / duration,
        errors=dict(sorted(errors.items())),
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
        p99_ms=percentile(latencies, 99),
        max_ms=latencies[-1] if latencies else None,
        send_lag_p99_ms=percentile(lags, 99),
        samples=list(samples),
        statuses={
            str(status): n
            for status, n in sorted(Counter(s.status for s in measured if s.status).items())
        },
    )
    if result.send_lag_p99_ms is not None and result.send_lag_p99_ms > 5:
        result.notes.append(
            f"generator fired late (p99 {result.send_lag_p99_ms:.1f} ms): the client shares the"
            " CPU, part of the latency is its own"
        )
    if any(s.error == "timeout" for s in measured):
        result.notes.append(f"some requests got no answer within {timeout:.0f} s")
    return result


@dataclass
class SaturationResult:
    """Closed-loop throughput: `workers` clients each sending as soon as its answer came."""

    name: str
    workers: int
    duration: float
    completed: int
    errors: dict[str, int]
    p50_ms: float | None

    @property
    def throughput(self) -> float:
        return self.completed / self.duration

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "workers": self.workers,
            "duration_s": self.duration,
            "completed": self.completed,
            "throughput_per_s": round(self.throughput, 1),
            "errors": dict(self.errors),
            "p50_ms": _rounded(self.p50_ms),
        }


async def saturate(
    name: str,
    specs: Sequence[RequestSpec],
    *,
    workers: int = 32,
    duration: float = 5.0,
    warmup: float = 1.0,
    request_timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> SaturationResult:
    """The most a server answers per second: `workers` loops back to back for `duration`.

    Deliberately closed-loop (the open loop would only queue past saturation); only
    successful answers completed after the warm-up and before the end count.
    """
    if not specs:
        raise ValueError(f"{name} has no requests")
    completed = 0
    errors: Counter[str] = Counter()
    latencies: list[float] = []
    origin = time.perf_counter()
    start, end = origin + warmup, origin + warmup + duration

    async def worker(offset: int, http: aiohttp.ClientSession) -> None:
        nonlocal completed
        index = offset
        while time.perf_counter() < end:
            spec = specs[index % len(specs)]
            index += workers
            began = time.perf_counter()
            status, failure = await _send(http, spec)
            finished = time.perf_counter()
            if not start <= finished < end:
                continue
            kind = error_kind(status, failure)
            if kind is None:
                completed += 1
                latencies.append((finished - began) * 1000)
            else:
                errors[kind] += 1

    async with client_session(connection_limit=workers, timeout=request_timeout) as http:
        await asyncio.gather(*(worker(i, http) for i in range(workers)))
    latencies.sort()
    return SaturationResult(
        name=name,
        workers=workers,
        duration=duration,
        completed=completed,
        errors=dict(errors),
        p50_ms=percentile(latencies, 50),
    )
