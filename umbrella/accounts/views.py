"""HTTP handlers of the accounts domain: thin, one service call each."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r401

from umbrella import keys
from umbrella.accounts import service
from umbrella.accounts.schemas import DevLoginIn, RevokedOut, SessionOut, SignedIn, UserOut
from umbrella.accounts.service import SessionInfo
from umbrella.config import Settings
from umbrella.web.envelope import ErrorEnvelope, envelope_of, ok
from umbrella.web.views import ApiView


def _next_step(user: dict[str, Any]) -> str | None:
    if user["onboarding_complete"]:
        return None
    # D-006: an unfinished onboarding starts over at step 1.
    return "step1"


def _session_out(user: dict[str, Any], info: SessionInfo) -> SessionOut:
    return SessionOut(
        user=UserOut.model_validate(user),
        onboarding_complete=user["onboarding_complete"],
        next_step=_next_step(user),
        expires_at=info.expires_at,
    )


def set_session_cookie(response: web.Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        settings.session_cookie_name,
        token,
        max_age=settings.session_ttl_seconds,
        httponly=True,
        secure=settings.session_cookie_secure,
        samesite="Lax",
        path="/",
    )


class SessionView(ApiView):
    async def get(self) -> r200[envelope_of(SessionOut)] | r401[ErrorEnvelope]:
        """The signed-in user, whether onboarding is complete and which step is next.

        Tags: auth
        """
        user = await service.get_user(user_id=self.session.user_id)
        return ok(self.request, _session_out(user, self.session))

    async def delete(self) -> r200[envelope_of(RevokedOut)] | r401[ErrorEnvelope]:
        """Sign out this device: revoke the session making the call.

        Tags: auth
        """
        sessions = self.request.config_dict[keys.SESSIONS]
        await sessions.delete(token_hash=self.session.token_hash)
        response = ok(self.request, RevokedOut(revoked=1))
        response.del_cookie(self.settings.session_cookie_name, path="/")
        return response


class LogoutView(ApiView):
    async def post(self) -> r200[envelope_of(RevokedOut)] | r401[ErrorEnvelope]:
        """Sign out everywhere: revoke every session of the signed-in user.

        Tags: auth
        """
        sessions = self.request.config_dict[keys.SESSIONS]
        revoked = await sessions.delete_all_for_user(user_id=self.session.user_id)
        response = ok(self.request, RevokedOut(revoked=revoked))
        response.del_cookie(self.settings.session_cookie_name, path="/")
        return response


class DevLoginView(ApiView):
    """Registered only when UMBRELLA_ENV=development."""

    public = True

    async def post(self, body: DevLoginIn) -> r200[envelope_of(SignedIn)]:
        """Development only: sign in as an existing user by email or id.

        Tags: auth
        """
        if body.user_id is not None:
            user = await service.get_user(user_id=body.user_id)
        else:
            user = await service.get_user_by_email(email=str(body.email))
        sessions = self.request.config_dict[keys.SESSIONS]
        new = await sessions.create(
            user_id=user["id"], user_agent=self.request.headers.get("User-Agent")
        )
        response = ok(self.request, SignedIn(token=new.token, session=_session_out(user, new.info)))
        set_session_cookie(response, self.settings, new.token)
        return response


def routes(settings: Settings) -> list[web.AbstractRouteDef]:
    table: list[web.AbstractRouteDef] = [
        web.view("/v1/auth/session", SessionView),
        web.view("/v1/auth/logout", LogoutView),
    ]
    if settings.dev_login_enabled:
        table.append(web.view("/v1/auth/dev-login", DevLoginView))
    return table
