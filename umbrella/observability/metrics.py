"""Prometheus metrics named as ARCHITECTURE §8, in a registry owned by each process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# Down to 5 ms: our targets are tens of milliseconds, the original's were seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.06, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Every metric of one process; labels are bounded (route templates, job names)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_request_duration = Histogram(
            "umbrella_http_request_duration_seconds",
            "HTTP request latency by route template, method and status.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.http_in_flight = Gauge(
            "umbrella_http_requests_in_flight",
            "HTTP requests being served right now.",
            registry=self.registry,
        )
        self.jobs = Counter(
            "umbrella_jobs_total",
            "Jobs run by the worker, by job and outcome (succeeded, retried, failed).",
            ["job", "outcome"],
            registry=self.registry,
        )
        self.job_duration = Histogram(
            "umbrella_job_duration_seconds",
            "Time a job took, by job.",
            ["job"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "umbrella_queue_depth",
            "Jobs waiting to run (queued, due or not), by job.",
            ["queue"],
            registry=self.registry,
        )
        self.jobs_held = Gauge(
            "umbrella_jobs_held_failed",
            "Jobs held as failed after their last try, by job (re-queue: umbrella admin jobs).",
            ["job"],
            registry=self.registry,
        )
        self.cron_last_success = Gauge(
            "umbrella_cron_last_success_timestamp_seconds",
            "When each cron job last succeeded (Unix time), read from cron_runs by the worker.",
            ["job"],
            registry=self.registry,
        )
        self.cache_requests = Counter(
            "umbrella_cache_requests_total",
            "Cache lookups by cache and result (hit, miss, error).",
            ["cache", "result"],
            registry=self.registry,
        )
        self.external_requests = Counter(
            "umbrella_external_requests_total",
            "Calls to external providers by service (resend, twilio, anthropic, oidc) and"
            " outcome (success, retryable_error, permanent_error).",
            ["service", "outcome"],
            registry=self.registry,
        )
        self.dependency_up = Gauge(
            "umbrella_dependency_up",
            "1 when the last readiness check reached the dependency, else 0.",
            ["dependency"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
