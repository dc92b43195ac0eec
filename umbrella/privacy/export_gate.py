"""At most one data export in flight per user, and a few export reads at once per process.

An export reads a whole account (seconds for a big one) and then occupies a download for as
long as the client takes; a second, third … one of the same user at the same time gains
them nothing and costs us a snapshot, a file and a socket each. The slot is a Redis key
(`export:inflight:{user_id}`) with a lease, so every replica sees it; while Redis is
unreachable each process keeps the slots it gave out itself (never open, never a 503).
The lease is renewed while the download moves, and lapses on its own when a process dies
or a client stops reading (the download is cut then, docs/account-data.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from uuid import UUID

from redis.asyncio import Redis

from umbrella.core.cache import REDIS_DOWN_ERRORS
from umbrella.core.errors import RateLimited

log = logging.getLogger(__name__)

# Longer than a client may stall (EXPORT_IDLE_SECONDS): a live download renews it first.
LEASE_SECONDS = 120
RENEW_EVERY_SECONDS = LEASE_SECONDS / 4
# Reads of exports at once in one process: each holds a pooled connection for seconds, and
# the pool is for everyone's requests.
READS_AT_ONCE = 2
RETRY_AFTER_MAX_SECONDS = 10
BUSY_MESSAGE = (
    "An export of your account is already being prepared or downloaded. Wait for it to"
    " finish, then try again."
)

# Take the slot, or say how long the holder's lease still runs (-1: taken by us).
_ENTER = """
if redis.call('set', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return -1 end
return redis.call('ttl', KEYS[1])
"""
# Renew or free the slot only while it is still ours (a lapsed lease may be someone's now).
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def slot_key(user_id: UUID) -> str:
    return f"export:inflight:{user_id}"


@dataclass
class ExportTicket:
    """One user's export slot, held until `release` (or until its lease lapses)."""

    gate: ExportGate
    user_id: UUID
    token: str
    renewed_at: float = field(default_factory=time.monotonic)

    async def touch(self) -> None:
        """Renew the lease when a quarter of it has passed (one Redis call, not one a chunk)."""
        now = time.monotonic()
        if now - self.renewed_at < RENEW_EVERY_SECONDS:
            return
        self.renewed_at = now
        await self.gate._renew(self)

    async def release(self) -> None:
        await self.gate._release(self)


@dataclass
class ExportGate:
    """The export slots of one api process: shared through Redis, kept here while it is down."""

    redis: Redis
    # user id -> (token, lease end on the monotonic clock): this process's own slots.
    _local: dict[UUID, tuple[str, float]] = field(default_factory=dict, repr=False)
    _reads: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(READS_AT_ONCE), repr=False
    )

    async def enter(self, *, user_id: UUID) -> ExportTicket:
        """Take the user's export slot, or raise `RateLimited` (429) while another holds it."""
        now = time.monotonic()
        held = self._local.get(user_id)
        if held is not None and held[1] > now:
            raise RateLimited(BUSY_MESSAGE, retry_after_seconds=RETRY_AFTER_MAX_SECONDS)
        token = secrets.token_urlsafe(16)
        try:
            ttl = int(
                await self.redis.eval(_ENTER, 1, slot_key(user_id), token, str(LEASE_SECONDS))
            )
        except REDIS_DOWN_ERRORS:
            log.warning("redis unavailable; export slots kept in this process")
            ttl = -1
        if ttl != -1:
            retry_after = min(max(ttl, 1), RETRY_AFTER_MAX_SECONDS)
            raise RateLimited(BUSY_MESSAGE, retry_after_seconds=retry_after)
        self._local[user_id] = (token, now + LEASE_SECONDS)
        return ExportTicket(gate=self, user_id=user_id, token=token)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        """Wait for one of this process's READS_AT_ONCE export reads."""
        async with self._reads:
            yield

    async def _renew(self, ticket: ExportTicket) -> None:
        if self._local.get(ticket.user_id, ("",))[0] == ticket.token:
            self._local[ticket.user_id] = (ticket.token, time.monotonic() + LEASE_SECONDS)
        with contextlib.suppress(*REDIS_DOWN_ERRORS):  # the local slot holds meanwhile
            await self.redis.eval(
                _RENEW, 1, slot_key(ticket.user_id), ticket.token, str(LEASE_SECONDS)
            )

    async def _release(self, ticket: ExportTicket) -> None:
        if self._local.get(ticket.user_id, ("",))[0] == ticket.token:
            del self._local[ticket.user_id]
        try:
            await self.redis.eval(_RELEASE, 1, slot_key(ticket.user_id), ticket.token)
        except REDIS_DOWN_ERRORS:
            log.warning("redis unavailable; an export slot lapses with its lease")
