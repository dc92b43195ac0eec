"""Sessions and users: opaque tokens whose SHA-256 lives in Redis (fast) and Postgres (truth).

A Redis copy is trusted without asking Postgres, except after a revocation that could not
reach Redis (it was down): the revoking process then raises the session cache's epoch (a
Postgres sequence), every api process reads the epoch every few seconds, and a copy cached
under an older epoch is checked against Postgres once before it is trusted again. So a
Redis that comes back remembering a revoked session cannot bring it back to life, and the
hot path still costs one Redis GET (docs/sign-in.md, docs/performance.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from redis.asyncio import Redis

from umbrella import jobs
from umbrella.accounts.schemas import NextStep, SessionOut, UserOut
from umbrella.accounts.tables import Session, User
from umbrella.core import db
from umbrella.core.background import running_beside
from umbrella.core.cache import REDIS_DOWN_ERRORS
from umbrella.core.errors import NotFound
from umbrella.keys import ArtistProfileCheck
from umbrella.observability.metrics import Metrics
from umbrella.piccolo_conf import DB
from umbrella.web.sessions import SessionInfo

log = logging.getLogger(__name__)

TOKEN_BYTES = 32
# A token is 43 url-safe characters; anything much longer is not ours and is not hashed.
MAX_TOKEN_LENGTH = 128
PURGE_SESSION_CACHE_JOB = "purge_session_cache"
# The epoch of a Redis copy written before epochs existed: checked once, like any stale one.
NO_EPOCH = -1
_READ_EPOCH = (
    "SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS epoch FROM session_cache_epoch"
)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def cache_key(token_hash: str) -> str:
    return f"session:{token_hash}"


@dataclass(frozen=True)
class NewSession:
    token: str
    info: SessionInfo


@dataclass
class SessionStore:
    """Creates, finds and revokes sessions. Redis going away costs speed, never correctness."""

    redis: Redis
    metrics: Metrics
    ttl_seconds: int
    # The session cache's epoch as this process last read it (`watch_epoch` keeps it fresh).
    epoch: int = field(default=0)

    @asynccontextmanager
    async def watching_epoch(self, *, every_seconds: float) -> AsyncIterator[None]:
        """Read the cache's epoch now and then every `every_seconds` until the block ends."""
        self.epoch = await read_epoch()
        async with running_beside(self._watch_epoch(every_seconds)):
            yield

    async def _watch_epoch(self, every_seconds: float) -> None:
        failing = False
        while True:
            await asyncio.sleep(every_seconds)
            try:
                self.epoch = max(self.epoch, await read_epoch())
            except Exception as error:  # Postgres away: keep the last epoch, say so once
                if not failing:
                    log.warning(
                        "session cache epoch unreadable; keeping the last one",
                        extra={"error": type(error).__name__},
                    )
                failing = True
            else:
                failing = False

    async def create(self, *, user_id: UUID, user_agent: str | None = None) -> NewSession:
        """Open a session for a user and return its token (shown once, stored only as a hash)."""
        epoch = self.epoch
        async with DB.transaction():
            new = await self.open(user_id=user_id, user_agent=user_agent)
        await self.remember(new.info, epoch=epoch)
        return new

    async def open(self, *, user_id: UUID, user_agent: str | None = None) -> NewSession:
        """Write a new session inside the caller's transaction; `remember` it after the commit.

        An unfinished onboarding goes back to its start here (D-006): every sign-in is a
        "coming back", so the next step is the first one again.
        """
        user = await User.select(User.role).where(User.id == user_id).first()
        if user is None:
            raise NotFound("No such user.", field="user_id")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        now = datetime.now(UTC)
        info = SessionInfo(
            token_hash=hash_token(token),
            user_id=user_id,
            role=user["role"],
            expires_at=now + timedelta(seconds=self.ttl_seconds),
        )
        await Session.insert(
            Session(
                token_hash=info.token_hash,
                user_id=user_id,
                created_at=now,
                expires_at=info.expires_at,
                user_agent=(user_agent or "")[:512] or None,
            )
        )
        await db.fetch(
            "UPDATE users SET last_login_at = $1,"
            " onboarding_step = CASE WHEN onboarding_complete THEN onboarding_step ELSE 0 END"
            " WHERE id = $2",
            now,
            user_id,
        )
        return NewSession(token=token, info=info)

    async def get(self, *, token: str) -> SessionInfo | None:
        """The live session for a token, from Redis or else Postgres; None if unknown or over."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        token_hash = hash_token(token)
        redis_up = True
        cached: bytes | str | None = None
        try:
            cached = await self.redis.get(cache_key(token_hash))
        except REDIS_DOWN_ERRORS:
            redis_up = False
            self.metrics.cache_requests.labels("session", "error").inc()
        else:
            cached_info = _decode(token_hash, cached) if cached is not None else None
            if cached_info is not None and cached_info[1] >= self.epoch:
                self.metrics.cache_requests.labels("session", "hit").inc()
                info = cached_info[0]
                return info if info.expires_at > datetime.now(UTC) else None
            # A copy from before a revocation Redis missed is checked against Postgres.
            self.metrics.cache_requests.labels("session", "miss").inc()

        # Read before Postgres: a revocation committed meanwhile raises it past this one.
        epoch = self.epoch

        row = (
            await Session.select(Session.user_id, Session.expires_at, Session.user_id.role)
            .where(
                (Session.token_hash == token_hash)
                & Session.revoked_at.is_null()
                & (Session.expires_at > datetime.now(UTC))
            )
            .first()
        )
        if row is None:
            if redis_up and cached is not None:
                await purge_cached_sessions(self.redis, [token_hash], raise_on_error=False)
            return None
        info = SessionInfo(
            token_hash=token_hash,
            user_id=row["user_id"],
            role=row["user_id.role"],
            expires_at=row["expires_at"],
        )
        if redis_up:
            await self.remember(info, epoch=epoch)
        return info

    async def delete(self, *, token_hash: str) -> None:
        """Revoke one session."""
        await self._revoke([token_hash])

    async def delete_all_for_user(self, *, user_id: UUID) -> int:
        """Revoke every live session of a user (logout everywhere, account deletion)."""
        rows = await Session.select(Session.token_hash).where(
            (Session.user_id == user_id) & Session.revoked_at.is_null()
        )
        hashes = [row["token_hash"] for row in rows]
        await self._revoke(hashes)
        return len(hashes)

    async def forget_cached_user(self, *, user_id: UUID) -> None:
        """Drop a user's cached sessions (after a role change): the next read re-caches them."""
        rows = await Session.select(Session.token_hash).where(
            (Session.user_id == user_id) & Session.revoked_at.is_null()
        )
        hashes = [row["token_hash"] for row in rows]
        if hashes:
            await self.forget(hashes)

    async def _revoke(self, token_hashes: list[str]) -> None:
        if not token_hashes:
            return
        async with DB.transaction():
            await Session.update({Session.revoked_at: datetime.now(UTC)}).where(
                Session.token_hash.is_in(token_hashes) & Session.revoked_at.is_null()
            )
            # Postgres is the truth; the job makes sure Redis forgets these sessions even if
            # it is unreachable right now (the inline delete below is only the fast path).
            await jobs.enqueue(PURGE_SESSION_CACHE_JOB, {"token_hashes": token_hashes})
        await self.forget(token_hashes)

    async def forget(self, token_hashes: list[str]) -> None:
        """Drop committed changes' Redis copies, or else make every process distrust them."""
        self.epoch = await forget_cached_sessions(self.redis, token_hashes) or self.epoch

    async def remember(self, info: SessionInfo, *, epoch: int | None = None) -> None:
        """Cache a committed session in Redis, as checked at `epoch` (default: the current one);
        best effort: Postgres has it anyway."""
        if epoch is None:
            epoch = self.epoch
        ttl = int((info.expires_at - datetime.now(UTC)).total_seconds())
        if ttl <= 0:
            return
        value = json.dumps(
            {"u": str(info.user_id), "r": info.role, "e": info.expires_at.timestamp(), "g": epoch}
        )
        try:
            await self.redis.set(cache_key(info.token_hash), value, ex=ttl)
        except REDIS_DOWN_ERRORS:
            log.warning("redis unavailable; session kept in postgres only")


async def purge_cached_sessions(
    redis: Redis, token_hashes: list[str], *, raise_on_error: bool
) -> bool:
    """Delete sessions' Redis copies; False (or the error) when Redis is unreachable."""
    try:
        await redis.delete(*[cache_key(token_hash) for token_hash in token_hashes])
    except REDIS_DOWN_ERRORS:
        if raise_on_error:
            raise
        log.warning("redis unavailable; revoked sessions will be purged by a job")
        return False
    return True


async def read_epoch() -> int:
    """The session cache's epoch: Redis copies cached under an older one are checked again."""
    rows = await db.fetch(_READ_EPOCH)
    return int(rows[0]["epoch"])


async def forget_cached_sessions(redis: Redis, token_hashes: list[str]) -> int | None:
    """After a commit that revoked or changed sessions: delete their Redis copies, or, when
    Redis is unreachable, raise the cache's epoch so no process trusts any copy from before.

    Returns the new epoch when it was raised. The purge job still deletes the copies later.
    """
    if await purge_cached_sessions(redis, token_hashes, raise_on_error=False):
        return None
    rows = await db.fetch("SELECT nextval('session_cache_epoch') AS epoch")
    epoch = int(rows[0]["epoch"])
    log.warning("session cache epoch raised: redis missed a revocation", extra={"epoch": epoch})
    return epoch


def _decode(token_hash: str, raw: bytes | str) -> tuple[SessionInfo, int]:
    data: dict[str, Any] = json.loads(raw)
    info = SessionInfo(
        token_hash=token_hash,
        user_id=UUID(data["u"]),
        role=data["r"],
        expires_at=datetime.fromtimestamp(data["e"], UTC),
    )
    return info, int(data.get("g", NO_EPOCH))


# The artist onboarding's steps, in order.
ARTIST_STEPS: tuple[NextStep, ...] = ("step1", "step2", "step3", "step4", "step5")


def next_onboarding_step(
    *,
    onboarding_complete: bool,
    onboarding_step: int,
    has_artist_profile: bool,
    role_chosen: bool = False,
) -> NextStep | None:
    """What onboarding shows next: None when done, `role` first, then `step1`..`step5`.

    `onboarding_step` is the last artist step done in this visit; sign-in sets it back to 0
    for an unfinished onboarding, so a returning user starts over at step 1 (D-006).
    """
    if onboarding_complete:
        return None
    if onboarding_step == 0 and not has_artist_profile and not role_chosen:
        return "role"
    return ARTIST_STEPS[min(max(onboarding_step, 0), len(ARTIST_STEPS) - 1)]


async def get_session(
    *, user_id: UUID, expires_at: datetime, has_artist_profile: ArtistProfileCheck
) -> SessionOut:
    """The signed-in user, whether onboarding is complete and which step comes next.

    `has_artist_profile` is the artists domain's answer (keys.HAS_ARTIST_PROFILE): artists
    sits above accounts.
    """
    user = await get_user(user_id=user_id)
    next_step = next_onboarding_step(
        onboarding_complete=user["onboarding_complete"],
        onboarding_step=user["onboarding_step"],
        has_artist_profile=await has_artist_profile(user_id=user_id),
        role_chosen=user["role_chosen_at"] is not None,
    )
    # The column defaults to artist, but nobody chose it yet: the app must not show it.
    role = None if next_step == "role" else user["role"]
    return SessionOut(
        user=UserOut.model_validate({**user, "role": role}),
        onboarding_complete=user["onboarding_complete"],
        next_step=next_step,
        expires_at=expires_at,
    )


async def get_user(*, user_id: UUID) -> dict[str, Any]:
    """One user's own record."""
    user = await User.select().where(User.id == user_id).first()
    if user is None:
        raise NotFound("No such user.")
    return user


async def get_user_by_email(*, email: str) -> dict[str, Any]:
    """A user found by email (emails are stored lower-case)."""
    user = await User.select().where(User.email == email.strip().lower()).first()
    if user is None:
        raise NotFound("No user has that email.", field="email")
    return user


async def get_or_create_dev_user(*, email: str) -> dict[str, Any]:
    """Development only: the user with this email, made as a new artist if there is none."""
    address = email.strip().lower()
    now = datetime.now(UTC)
    await db.fetch(
        "INSERT INTO users (email, display_name, role, onboarding_complete, onboarding_step,"
        " created_at, updated_at) VALUES ($1, $2, 'artist', false, 0, $3, $4)"
        " ON CONFLICT (email) DO NOTHING",
        address,
        address.split("@", 1)[0][:100],
        now,
        now,
    )
    return await get_user_by_email(email=address)


async def delete_expired_sessions(*, older_than: timedelta) -> int:
    """Forget sessions that expired or were revoked more than `older_than` ago."""
    cutoff = datetime.now(UTC) - older_than
    deleted = (
        await Session.delete()
        .where((Session.expires_at < cutoff) | (Session.revoked_at < cutoff))
        .returning(Session.token_hash)
    )
    return len(deleted)
