"""Authentication: who is calling, from a bearer token or the session cookie."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from umbrella import keys
from umbrella.web.errors import Unauthorized
from umbrella.web.views import is_public, method_supported


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Put the caller's session on the request; every `/v1` route needs one unless public."""
    request[keys.SESSION] = None
    token = _credentials(request)
    if token:
        request[keys.SESSION] = await request.app[keys.SESSIONS].get(token=token)
    needs_session = (
        request.path.startswith("/v1/")
        and request.match_info.http_exception is None
        and request.method != "OPTIONS"
        and method_supported(request)
        and not is_public(request)
    )
    if needs_session and request[keys.SESSION] is None:
        if token:
            raise Unauthorized("Your session has expired or was revoked. Sign in again.")
        raise Unauthorized()
    return await handler(request)


def _credentials(request: web.Request) -> str | None:
    authorization = request.headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    cookie = request.cookies.get(request.app[keys.SETTINGS].session_cookie_name)
    return cookie or None
