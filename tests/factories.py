"""Rows a test needs, written the way the product writes them (no shortcuts around constraints)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

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
