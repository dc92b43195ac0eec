"""Rows a test needs, written the way the product writes them (no shortcuts around constraints)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from aiohttp import web

from umbrella.accounts import views as accounts_views
from umbrella.accounts.tables import User


async def make_user(
    *,
    role: str = "artist",
    email: str | None = None,
    onboarding_complete: bool = False,
    phone: str | None = None,
    notify_email: bool = True,
    notify_sms: bool = True,
) -> UUID:
    now = datetime.now(UTC)
    user_id = uuid.uuid4()
    await User.insert(
        User(
            id=user_id,
            oauth_provider="google",
            oauth_id=f"google-{user_id.hex}",
            email=email or f"{user_id.hex[:10]}@example.com",
            display_name="Test User",
            role=role,
            onboarding_complete=onboarding_complete,
            phone=phone,
            notify_email=notify_email,
            notify_sms=notify_sms,
            created_at=now,
            updated_at=now,
        )
    )
    return user_id


async def make_artist(
    *,
    user_id: UUID | None = None,
    stage_name: str = "Luna Vega",
    email: str | None = None,
    **fields: Any,
) -> tuple[UUID, UUID]:
    """An artist who finished onboarding: (user id, artist id). `fields` set profile columns."""
    from umbrella.artists.tables import Artist

    if user_id is None:
        user_id = await make_user(role="artist", email=email, onboarding_complete=True)
    now = datetime.now(UTC)
    artist_id = uuid.uuid4()
    await Artist.insert(
        Artist(
            id=artist_id,
            user_id=user_id,
            stage_name=stage_name,
            created_at=now,
            updated_at=now,
            **fields,
        )
    )
    return user_id, artist_id


async def bearer_for(app: web.Application, user_id: UUID) -> dict[str, str]:
    """Headers of a signed-in request as this user (a real session, as sign-in opens it)."""

    new = await app[accounts_views.SESSION_STORE].create(user_id=user_id)
    return {"Authorization": f"Bearer {new.token}"}
