"""Gauges read from Postgres by the worker every few seconds, never per scrape.

Prometheus may scrape every pod every 15 s and an operator may open ten dashboards: if a
scrape ran these queries, load would follow attention. Instead each worker samples once
per interval, with one statement per group of gauges, each backed by an index (partial
where the rows of interest are few), and the scrape only reads what was sampled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from umbrella.core import db
from umbrella.observability.metrics import Metrics

log = logging.getLogger(__name__)

SAMPLE_INTERVAL_SECONDS = 15.0

_QUEUE = (
    "SELECT entrypoint, count(*) FILTER (WHERE status = 'queued') AS queued,"
    " count(*) FILTER (WHERE status = 'failed') AS held,"
    " coalesce(extract(epoch FROM now() - min(execute_after)"
    "   FILTER (WHERE status = 'queued' AND execute_after <= now())), 0)::float8 AS oldest"
    " FROM pgqueuer WHERE status IN ('queued', 'failed') GROUP BY entrypoint"
)
_CRON = (
    "SELECT job, extract(epoch FROM max(finished_at))::float8 AS finished"
    " FROM cron_runs WHERE outcome = 'succeeded' GROUP BY job"
)
# Email and SMS due but unsent: notifications in the queue, broadcast deliveries pending
# or claimed whose quiet hours (not_before) have passed.
_OUTBOX = (
    "SELECT channel, sum(waiting)::bigint AS waiting FROM ("
    " SELECT channel, count(*) AS waiting FROM notifications WHERE status = 'queued'"
    " GROUP BY channel"
    " UNION ALL"
    " SELECT channel, count(*) FROM broadcast_deliveries"
    " WHERE status IN ('pending', 'sending') AND (not_before IS NULL OR not_before <= now())"
    " GROUP BY channel"
    ") AS due GROUP BY channel"
)
_STORAGE = "SELECT coalesce(sum(used_bytes), 0)::bigint AS used FROM storage_quotas"
_VIOLET = (
    "SELECT coalesce(sum(used), 0)::bigint AS prompts, coalesce(max(used), 0) AS most,"
    " count(*) FILTER (WHERE used >= $1) AS at_limit FROM ("
    " SELECT count(*) AS used FROM violet_usage"
    " WHERE usage_date = (now() AT TIME ZONE 'UTC')::date GROUP BY artist_id"
    ") AS today"
)
CHANNELS = ("email", "sms")


async def sample_once(
    metrics: Metrics, job_names: Iterable[str], *, violet_daily_limit: int
) -> None:
    """Read every sampled gauge once; a job without waiting rows reads 0, not stale.

    `violet_daily_limit` is the limit the API enforces (D-062), passed in by the worker:
    observability sits below the domains and imports none of them.
    """
    connection_pool = db.engine().pool
    if connection_pool is None:
        raise RuntimeError("the database pool is not running")
    async with connection_pool.acquire() as connection:
        queue = await connection.fetch(_QUEUE)
        cron = await connection.fetch(_CRON)
        outbox = await connection.fetch(_OUTBOX)
        storage = await connection.fetchrow(_STORAGE)
        violet = await connection.fetchrow(_VIOLET, violet_daily_limit)

    by_job = {row["entrypoint"]: row for row in queue}
    for name in job_names:
        row = by_job.get(name)
        metrics.queue_depth.labels(name).set(row["queued"] if row else 0)
        metrics.jobs_held.labels(name).set(row["held"] if row else 0)
        metrics.queue_oldest_age.labels(name).set(row["oldest"] if row else 0)
    for row in cron:
        metrics.cron_last_success.labels(row["job"]).set(row["finished"])
    waiting = {row["channel"]: row["waiting"] for row in outbox}
    for channel in CHANNELS:
        metrics.outbox_backlog.labels(channel).set(waiting.get(channel, 0))
    # Aggregates without GROUP BY always return one row.
    assert storage is not None
    assert violet is not None
    metrics.storage_used.set(storage["used"])
    metrics.violet_prompts_today.set(violet["prompts"])
    metrics.violet_prompts_today_max.set(violet["most"])
    metrics.violet_artists_at_limit.set(violet["at_limit"])


async def run_sampler(
    metrics: Metrics,
    job_names: Iterable[str],
    *,
    violet_daily_limit: int,
    interval: float = SAMPLE_INTERVAL_SECONDS,
) -> None:
    """Sample until cancelled; a failed round is logged and the next one tries again."""
    names = list(job_names)
    postgres_away = False
    while True:
        try:
            await sample_once(metrics, names, violet_daily_limit=violet_daily_limit)
        except Exception as error:  # the jobs are unaffected; the gauges keep their values
            if not db.postgres_down(error):
                log.warning("could not sample the queue and usage gauges", exc_info=True)
            elif not postgres_away:  # once per outage: the worker logs the outage itself
                log.warning("could not sample the gauges: postgres unavailable")
            postgres_away = db.postgres_down(error)
        else:
            postgres_away = False
        await asyncio.sleep(interval)
