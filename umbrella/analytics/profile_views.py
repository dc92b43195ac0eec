"""The profile views counted in Redis (`umbrella.artists.profile_views`), moved into Postgres.

Analytics owns profile_view_counts; the same statement adds the views to
artists.profile_views, which the owner's profile shows.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from umbrella.artists import cache as profile_cache
from umbrella.artists.profile_views import VIEWS_PREFIX
from umbrella.core import db
from umbrella.piccolo_conf import DB

log = logging.getLogger(__name__)

# A hash being flushed: renamed away from the live key, so new views start a fresh hash.
FLUSHING_PREFIX = "profile_views_flushing:"


# One statement: the artists update locks the rows (a concurrent deletion waits), and a
# view of an artist deleted meanwhile is dropped instead of breaking the foreign key.
_FLUSH_SQL = """
WITH counted AS (
    UPDATE artists SET profile_views = artists.profile_views + v.views
      FROM unnest($1::uuid[], $2::bigint[]) AS v(artist_id, views)
     WHERE artists.id = v.artist_id
 RETURNING artists.id AS artist_id, v.views
), stored AS (
    INSERT INTO profile_view_counts (artist_id, date, views, updated_at)
    SELECT artist_id, $3::date, views, now() FROM counted
    ON CONFLICT (artist_id, date)
    DO UPDATE SET views = profile_view_counts.views + excluded.views, updated_at = now()
)
SELECT coalesce(sum(views), 0)::bigint AS views FROM counted
"""


@dataclass(frozen=True)
class FlushedViews:
    hashes: int
    views: int


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _flush_hash(redis: Redis, key: str) -> int:
    """Add one renamed hash to Postgres in one transaction, then delete it; returns its views."""
    day_text = key.removeprefix(FLUSHING_PREFIX).split(":", 1)[0]
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        log.warning("profile views: unreadable key dropped", extra={"key": key})
        await redis.delete(key)
        return 0
    counts: dict[UUID, int] = {}
    for field, value in (await redis.hgetall(key)).items():
        try:
            counts[UUID(_decode(field))] = int(value)
        except ValueError:
            log.warning("profile views: unreadable entry skipped", extra={"key": key})
    ids = sorted(artist_id for artist_id, views in counts.items() if views > 0)
    flushed = 0
    if ids:
        async with DB.transaction():
            rows = await db.fetch(_FLUSH_SQL, ids, [counts[i] for i in ids], day)
            flushed = int(rows[0]["views"])
            # profile_views shows on the owner's profile.
            await profile_cache.forget_later(ids)
    # A crash between the commit above and this delete counts the hash again on the next
    # run: the flush is at-least-once.
    await redis.delete(key)
    await profile_cache.forget(redis, ids)
    return flushed


async def flush_profile_views(*, redis: Redis) -> FlushedViews:
    """Move the view counts from Redis into profile_view_counts and artists.profile_views."""
    hashes = views = 0
    # First what a crashed run left half done, then the live hashes of each day.
    leftovers = [_decode(key) async for key in redis.scan_iter(match=f"{FLUSHING_PREFIX}*")]
    for key in leftovers:
        views += await _flush_hash(redis, key)
        hashes += 1
    live = [_decode(key) async for key in redis.scan_iter(match=f"{VIEWS_PREFIX}*")]
    for key in live:
        day = key.removeprefix(VIEWS_PREFIX)
        flushing = f"{FLUSHING_PREFIX}{day}:{uuid.uuid4().hex}"
        try:
            # Atomic: a view counted from now on lands in a new live hash.
            await redis.rename(key, flushing)
        except ResponseError:
            continue  # gone since the scan (another flush, or expired)
        views += await _flush_hash(redis, flushing)
        hashes += 1
    return FlushedViews(hashes=hashes, views=views)
