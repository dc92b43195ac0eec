"""The caller a request carries: what the auth middleware finds for a session token.

The accounts domain creates, finds and revokes sessions (accounts.service.SessionStore); the
web layer only reads who is calling, so it names the type here and imports no domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from aiohttp import web


@dataclass(frozen=True)
class SessionInfo:
    """Who is calling: enough to authorise a request without touching Postgres."""

    token_hash: str
    user_id: UUID
    role: str
    expires_at: datetime


class SessionLookup(Protocol):
    """What the auth middleware asks of the session store (SESSIONS)."""

    async def get(self, *, token: str) -> SessionInfo | None: ...


# The accounts domain's SessionStore, as the auth middleware sees it; accounts reads the
# whole store under its own key (accounts.views.SESSION_STORE), set to the same object.
SESSIONS: web.AppKey[SessionLookup] = web.AppKey("sessions")
# The caller's session, set by the auth middleware (None: no credential, on a public route)
SESSION: web.RequestKey[SessionInfo | None] = web.RequestKey("session")
