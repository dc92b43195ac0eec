"""Onboarding (D-006, SPEC §3.1): choosing a role, then an artist's five steps in order.

docs/profiles.md describes every field of every step. These services take the user's id,
not a Caller: they read (and set) the role from the locked user row, where a Caller holds
the role the session had when the request came in.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from redis.asyncio import Redis

from umbrella.accounts.service import SessionStore, next_onboarding_step
from umbrella.accounts.tables import User
from umbrella.artists import cache as profile_cache
from umbrella.artists.schemas import OnboardingStatusOut
from umbrella.artists.service import get_artist_id, update_columns
from umbrella.artists.tables import Artist
from umbrella.core import db
from umbrella.core.errors import Conflict, Forbidden, NotFound
from umbrella.notifications.service import notify_user
from umbrella.notifications.templates import WelcomePayload
from umbrella.piccolo_conf import DB

LAST_STEP = 5


async def _lock_user(user_id: UUID) -> dict[str, Any]:
    rows = await db.fetch(
        "SELECT id, role, onboarding_complete, onboarding_step FROM users WHERE id = $1 FOR UPDATE",
        user_id,
    )
    if not rows:
        raise NotFound("No such user.")
    user: dict[str, Any] = rows[0]
    return user


async def get_onboarding_status(*, user_id: UUID) -> OnboardingStatusOut:
    """Where the user stands in onboarding and which step comes next."""
    user = (
        await User.select(
            User.role, User.onboarding_complete, User.onboarding_step, User.role_chosen_at
        )
        .where(User.id == user_id)
        .first()
    )
    if user is None:
        raise NotFound("No such user.")
    has_profile = await get_artist_id(user_id=user_id) is not None
    complete: bool = user["onboarding_complete"]
    step: int = user["onboarding_step"]
    done = LAST_STEP if complete and user["role"] == "artist" else 0 if complete else step
    next_step = next_onboarding_step(
        onboarding_complete=complete,
        onboarding_step=step,
        has_artist_profile=has_profile,
        role_chosen=user["role_chosen_at"] is not None,
    )
    return OnboardingStatusOut(
        onboarding_complete=complete,
        # The column defaults to artist, but nobody chose it yet: null, as in the session.
        role=None if next_step == "role" else user["role"],
        onboarding_step=step,
        next_step=next_step,
        steps_done=[f"step{number}" for number in range(1, done + 1)],
        has_artist_profile=has_profile,
    )


async def update_role(
    *,
    user_id: UUID,
    role: Literal["artist", "venue"],
    venue_name: str | None,
    sessions: SessionStore,
) -> OnboardingStatusOut:
    """Choose artist (steps follow) or venue (done at once, with the welcome email)."""
    now = datetime.now(UTC)
    async with DB.transaction():
        user = await _lock_user(user_id)
        if user["role"] == "admin":
            raise Forbidden("Administrators do not onboard.", field="role")
        if user["onboarding_complete"]:
            raise Conflict("Onboarding is already complete.", field="role")
        if role == "venue":
            if await get_artist_id(user_id=user_id) is not None:
                raise Conflict(
                    "You started an artist profile, so this account stays an artist.",
                    field="role",
                )
            await User.update(
                {
                    User.role: "venue",
                    User.role_chosen_at: now,
                    User.display_name: venue_name,
                    User.onboarding_complete: True,
                    User.onboarding_step: 0,
                    User.updated_at: now,
                }
            ).where(User.id == user_id)
            await notify_user(
                user_id=user_id,
                kind="welcome",
                payload=WelcomePayload(name=str(venue_name), audience="venue"),
            )
        else:
            await User.update(
                {User.role: "artist", User.role_chosen_at: now, User.updated_at: now}
            ).where(User.id == user_id)
    if role != user["role"]:
        # Cached sessions carry the role: the next request reads the new one.
        await sessions.forget_cached_user(user_id=user_id)
    return await get_onboarding_status(user_id=user_id)


async def update_onboarding_step(
    *, user_id: UUID, step: int, answers: dict[str, Any], redis: Redis
) -> OnboardingStatusOut:
    """Record one artist step; out of order, onboarding restarts at step 1 (D-006)."""
    if not 1 <= step <= LAST_STEP:
        raise NotFound("No such onboarding step.", field="step")
    now = datetime.now(UTC)
    restart = False
    async with DB.transaction():
        user = await _lock_user(user_id)
        if user["role"] != "artist":
            raise Forbidden("Only artists fill in these steps.", field="role")
        if user["onboarding_complete"]:
            raise Conflict(
                "Onboarding is already complete: edit your profile instead.", field="step"
            )
        artist_id = await get_artist_id(user_id=user_id)
        # D-006: step 1 is always welcome (a restart); any other step only right after the
        # previous one of this visit.
        if step != 1 and (step != user["onboarding_step"] + 1 or artist_id is None):
            await User.update({User.onboarding_step: 0, User.updated_at: now}).where(
                User.id == user_id
            )
            restart = True
        else:
            if artist_id is None:
                artist_id = uuid.uuid4()
                await Artist.insert(
                    Artist(id=artist_id, user_id=user_id, created_at=now, updated_at=now, **answers)
                )
            else:
                await Artist.update(update_columns(answers, updated_at=now)).where(
                    Artist.id == artist_id
                )
                await profile_cache.forget_later([artist_id])
            complete = step == LAST_STEP
            await User.update(
                {
                    User.onboarding_step: step,
                    User.onboarding_complete: complete,
                    User.updated_at: now,
                }
            ).where(User.id == user_id)
            if complete:
                stage_name = await Artist.select(Artist.stage_name).where(Artist.id == artist_id)
                await notify_user(
                    user_id=user_id,
                    kind="welcome",
                    payload=WelcomePayload(name=stage_name[0]["stage_name"]),
                )
    if restart:
        raise Conflict(
            f"Step {step} is out of order: onboarding restarts at step 1 "
            "(your earlier answers are kept).",
            field="step",
        )
    if artist_id is not None:
        await profile_cache.forget(redis, [artist_id])
    return await get_onboarding_status(user_id=user_id)
