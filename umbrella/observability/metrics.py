"""Prometheus metrics named as ARCHITECTURE §8, in a registry owned by each process.

Each api and worker pod runs one process (scale is by replicas), so every process has
its own registry and no multiprocess directory is needed. Labels are bounded: route
templates, task and cron job names, provider names, cache names, outcomes; never ids or paths.
No label is named `job`, `service`, `namespace`, `pod` or `instance`: Prometheus sets those on
every scraped series and would rename ours to `exported_*` (so tasks are `task`, cron jobs
`cron_job`, providers `provider`).
Gauges read from Postgres (queue depth, backlog, storage, Violet usage) are sampled by the
worker every few seconds, never per scrape; dashboards take their `max` across workers.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from umbrella.core import db

# Down to 5 ms: our targets are tens of milliseconds, the original's were seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.06, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Providers answer in tens of milliseconds (Resend) to tens of seconds (Claude).
PROVIDER_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)
# The `reason` of a 503 answered by design because a provider is not configured here.
NOT_CONFIGURED = "not_configured"


class Metrics:
    """Every metric of one process; labels are bounded (route templates, task names)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        # -- the api ---------------------------------------------------------------------
        self.http_request_duration = Histogram(
            "umbrella_http_request_duration_seconds",
            "HTTP request latency by route template, method and status; `reason` is"
            " not_configured on a 503 answered by design (a provider this deployment has not"
            " configured, left out of the error SLO) and empty otherwise.",
            ["route", "method", "status", "reason"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.http_in_flight = Gauge(
            "umbrella_http_requests_in_flight",
            "HTTP requests being served right now.",
            registry=registry,
        )
        self.dependency_up = Gauge(
            "umbrella_dependency_up",
            "1 when the last readiness check reached the dependency, else 0.",
            ["dependency"],
            registry=registry,
        )
        self.cache_requests = Counter(
            "umbrella_cache_requests_total",
            "Cache lookups by cache and result (hit, miss, error).",
            ["cache", "result"],
            registry=registry,
        )
        self.uploads = Counter(
            "umbrella_uploads_total",
            "Upload steps by purpose (avatar, banner, track, file, attachment), step (start,"
            " confirm) and outcome (ok; rejected: the client's fault; failed: ours).",
            ["purpose", "step", "outcome"],
            registry=registry,
        )
        self.storage_quota_rejections = Counter(
            "umbrella_storage_quota_rejections_total",
            "Uploads refused because the artist's storage quota would be exceeded (D-026).",
            registry=registry,
        )
        self.violet_prompts = Counter(
            "umbrella_violet_prompts_total",
            "Violet prompts by outcome (answered; limited: the 50 a day were used;"
            " failed: the model call failed and the prompt was given back; unavailable).",
            ["outcome"],
            registry=registry,
        )
        # -- both processes ----------------------------------------------------------------
        self.external_requests = Counter(
            "umbrella_external_requests_total",
            "Calls to external providers by provider (resend, twilio, anthropic, oidc) and"
            " outcome (success, retryable_error, permanent_error).",
            ["provider", "outcome"],
            registry=registry,
        )
        self.external_request_duration = Histogram(
            "umbrella_external_request_duration_seconds",
            "Latency of calls to external providers by provider and outcome.",
            ["provider", "outcome"],
            buckets=PROVIDER_BUCKETS,
            registry=registry,
        )
        self.db_pool_in_use = Gauge(
            "umbrella_db_pool_connections_in_use",
            "Postgres connections of this process's pool lent out right now.",
            registry=registry,
        )
        self.db_pool_max = Gauge(
            "umbrella_db_pool_connections_max",
            "The size limit of this process's Postgres pool (UMBRELLA_DB_POOL_MAX_SIZE).",
            registry=registry,
        )
        # Read when scraped: asking the pool costs nothing, and a sampled value would lag.
        self.db_pool_in_use.set_function(db.pool_in_use)
        self.db_pool_max.set_function(db.pool_max_size)
        # -- the worker ------------------------------------------------------------------
        self.jobs = Counter(
            "umbrella_jobs_total",
            "Jobs run by the worker, by task and outcome (succeeded, retried, failed).",
            ["task", "outcome"],
            registry=registry,
        )
        self.job_duration = Histogram(
            "umbrella_job_duration_seconds",
            "Time a job took, by task.",
            ["task"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        # -- sampled from Postgres by the worker -------------------------------------------
        self.queue_depth = Gauge(
            "umbrella_queue_depth",
            "Jobs waiting to run (queued, due or not), by task.",
            ["task"],
            registry=registry,
        )
        self.queue_oldest_age = Gauge(
            "umbrella_queue_oldest_job_age_seconds",
            "How long the oldest due job has waited to start, by task (0: none is waiting).",
            ["task"],
            registry=registry,
        )
        self.jobs_held = Gauge(
            "umbrella_jobs_held_failed",
            "Jobs held as failed after their last try, by task (re-queue: umbrella admin jobs).",
            ["task"],
            registry=registry,
        )
        self.outbox_backlog = Gauge(
            "umbrella_outbox_backlog",
            "Messages due but not yet sent, by channel (email, sms): queued notifications"
            " and due broadcast deliveries (quiet-hours deferrals are not due).",
            ["channel"],
            registry=registry,
        )
        self.cron_last_success = Gauge(
            "umbrella_cron_last_success_timestamp_seconds",
            "When each cron job last succeeded (Unix time), read from cron_runs by the worker.",
            ["cron_job"],
            registry=registry,
        )
        self.storage_used = Gauge(
            "umbrella_storage_used_bytes",
            "Bytes stored by all artists together (the sum of their quota usage).",
            registry=registry,
        )
        self.violet_prompts_today = Gauge(
            "umbrella_violet_prompts_today",
            "Violet prompts counted today (UTC) across all artists.",
            registry=registry,
        )
        self.violet_prompts_today_max = Gauge(
            "umbrella_violet_prompts_today_max",
            "The most Violet prompts one artist has used today (the limit is 50, D-062).",
            registry=registry,
        )
        self.violet_artists_at_limit = Gauge(
            "umbrella_violet_artists_at_daily_limit",
            "Artists who have used all of today's Violet prompts.",
            registry=registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
