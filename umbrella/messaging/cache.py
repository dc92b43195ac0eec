"""The inbox version cache (`inbox:{userId}`, 60 s) that answers idle polls without Postgres.

Postgres (`inbox_versions`) holds each user's version: bumped in the transaction of every
change to their conversation list. Redis holds a copy that only ever moves forward (a
max-set in Lua), so a reader filling it from a read taken before a commit can never pull
it back. A bump whose Redis write is lost (Redis down at that moment, a crash right after
the commit) is repaired by the `sync_inbox_versions` job queued in the bump's transaction,
and at the latest when the key expires. With Redis down, the version is read from Postgres.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError

from umbrella import jobs
from umbrella.core.cache import REDIS_DOWN_ERRORS
from umbrella.messaging.tables import InboxVersion
from umbrella.observability.metrics import Metrics

log = logging.getLogger(__name__)

CACHE_NAME = "inbox"  # the `cache` label of umbrella_cache_requests_total
# Short: the longest a lost write (or an account deletion, which bumps only Postgres) can
# leave an idle poller on a 304; one primary-key read per idle user per minute refills it.
INBOX_TTL_SECONDS = 60
SYNC_JOB = "sync_inbox_versions"
# Long enough for the bump's own after-commit write to have happened.
SYNC_DELAY = timedelta(seconds=1)
# Anything Redis may raise: a committed message must never fail because of its cache.
_ERRORS: tuple[type[Exception], ...] = (*REDIS_DOWN_ERRORS, RedisError)

# Set KEYS[1] to ARGV[1] (with a TTL of ARGV[2]) only if that moves it forward.
_MAX_SET = """
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if tonumber(ARGV[1]) > current then
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
    return 1
end
return 0
"""

# Bump when the list's JSON changes shape, so no client keeps an answer of the old one.
ETAG_FORMAT = "1"
# Avatar links in the list are valid one hour: every half hour the ETag changes, so a client
# that revalidates holds links valid for at least 30 more minutes.
LINK_WINDOW_SECONDS = 30 * 60


def inbox_key(user_id: UUID) -> str:
    return f"inbox:{user_id}"


@dataclass(frozen=True)
class InboxState:
    """A user's inbox version, and the Postgres reading of it when one was made."""

    version: int
    from_postgres: int | None


async def version_in_postgres(user_id: UUID) -> int:
    """The authoritative version; 0 for a user whose list never changed."""
    row = (
        await InboxVersion.select(InboxVersion.version)
        .where(InboxVersion.user_id == user_id)
        .first()
    )
    return 0 if row is None else int(row["version"])


async def _max_set(redis: Redis, user_id: UUID, version: int) -> None:
    await redis.eval(_MAX_SET, 1, inbox_key(user_id), str(version), str(INBOX_TTL_SECONDS))


async def current_version(redis: Redis, metrics: Metrics, user_id: UUID) -> InboxState:
    """The version from Redis; from Postgres on a miss (then cached) or with Redis down."""
    try:
        raw = await redis.get(inbox_key(user_id))
    except _ERRORS:
        metrics.cache_requests.labels(CACHE_NAME, "error").inc()
        version = await version_in_postgres(user_id)
        return InboxState(version=version, from_postgres=version)
    if raw is not None:
        metrics.cache_requests.labels(CACHE_NAME, "hit").inc()
        return InboxState(version=int(raw), from_postgres=None)
    metrics.cache_requests.labels(CACHE_NAME, "miss").inc()
    version = await version_in_postgres(user_id)
    try:
        await _max_set(redis, user_id, version)
    except _ERRORS:
        log.warning("redis unavailable; inbox version not cached")
    return InboxState(version=version, from_postgres=version)


async def store(redis: Redis, versions: Mapping[UUID, int]) -> None:
    """Move the cached versions forward right after a commit (best effort: the job makes sure)."""
    try:
        for user_id, version in versions.items():
            await _max_set(redis, user_id, version)
    except _ERRORS:
        log.warning("redis unavailable; inbox versions left to the sync job")


async def sync_later(user_ids: Iterable[UUID]) -> None:
    """Queue the copy of these users' versions to Redis; call it inside the bump's transaction."""
    ids = sorted({str(user_id) for user_id in user_ids})
    if ids:
        await jobs.enqueue(SYNC_JOB, {"user_ids": ids}, delay=SYNC_DELAY)


async def sync(redis: Redis, user_ids: Iterable[UUID]) -> None:
    """Copy the versions from Postgres to Redis, forward only; raises while Redis is down."""
    for user_id in user_ids:
        await _max_set(redis, user_id, await version_in_postgres(user_id))


def etag_of(*, user_id: UUID, version: int, query: str, now: float) -> str:
    """A weak ETag for one user, one inbox version and one query (since, cursor, limit)."""
    window = int(now // LINK_WINDOW_SECONDS)
    material = f"{ETAG_FORMAT}|{user_id}|{version}|{window}|{query}"
    return f'W/"{hashlib.blake2b(material.encode(), digest_size=16).hexdigest()}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names this ETag (weak comparison, RFC 9110 §13.1.2)."""
    if not if_none_match:
        return False
    wanted = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == wanted:
            return True
    return False
