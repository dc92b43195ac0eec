"""Profile views: counted in Redis on each read, moved into Postgres by a cron job.

A visitor counts once per artist every 30 minutes, and a profile read never writes to
Postgres; the `profile-views-flush` job of analytics (`umbrella.analytics.profile_views`)
adds the counts up (at-least-once).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from uuid import UUID

from redis.asyncio import Redis

from umbrella.core.cache import REDIS_DOWN_ERRORS, first_time
from umbrella.observability.metrics import Metrics

log = logging.getLogger(__name__)

VIEWS_PREFIX = "profile_views:"
VIEW_REPEAT_SECONDS = 30 * 60
VIEWS_KEY_TTL_SECONDS = 8 * 24 * 3600


def _view_key(day: date) -> str:
    return f"{VIEWS_PREFIX}{day.isoformat()}"


async def count_view(*, redis: Redis, metrics: Metrics, artist_id: UUID, visitor: str) -> None:
    """Count a view in Redis (no database write on the read path); lost if Redis is down.

    A visitor counts once per artist every 30 minutes, so reloading a page adds nothing.
    """
    key = _view_key(datetime.now(UTC).date())
    try:
        seen = f"profile_view_seen:{artist_id}:{visitor}"
        if not await first_time(redis, seen, seconds=VIEW_REPEAT_SECONDS):
            return
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, str(artist_id), 1)
            # A bound on what a stopped flush leaves behind; the flush runs every 5 minutes.
            pipe.expire(key, VIEWS_KEY_TTL_SECONDS)
            await pipe.execute()
    except REDIS_DOWN_ERRORS:
        metrics.cache_requests.labels("profile_views", "error").inc()
        log.debug("redis unavailable; profile view not counted")
