"""Authentication: who is calling, from a bearer token or the session cookie.

The session cookie is an *ambient* credential: a browser attaches it to any request for our
host, whichever page made it. `SameSite=Lax` already keeps it off most cross-site writes, but
not off writes from a sibling subdomain (same site, other origin), nor in browsers that
ignore SameSite. So a state-changing request authenticated by the cookie must also come from
one of our own pages: its `Origin` (or, without one, its `Referer`) must be a configured SPA
origin (`UMBRELLA_CORS_ORIGINS`) or the API's own (`UMBRELLA_PUBLIC_BASE_URL`); otherwise it
is refused with 403 (`FORBIDDEN`, field `Origin`) before the session is even looked up. A
bearer token is not ambient (a page can only send it by reading it first, and CORS keeps
other origins from sending the header at all), so bearer requests are not checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from umbrella import keys
from umbrella.config import Settings
from umbrella.core.errors import Forbidden, Unauthorized
from umbrella.web.sessions import SESSION, SESSIONS
from umbrella.web.views import is_public, method_supported

# Methods that change state; GET, HEAD and OPTIONS must not, so a forged one gains nothing.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ORIGIN_FIELD = "Origin"
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Credentials:
    """The session token a request carries, and whether it came from the cookie (ambient)."""

    token: str
    from_cookie: bool


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Put the caller's session on the request; every `/v1` route needs one unless public.

    A cookie-authenticated write from a page that is not ours is refused with 403 on a
    route that needs a session; on a public route (sign-in callbacks, webhooks, play counts)
    the cookie is ignored instead, so the request goes on as an anonymous one.
    """
    request[SESSION] = None
    needs_session = (
        request.path.startswith("/v1/")
        and request.match_info.http_exception is None
        and request.method != "OPTIONS"
        and method_supported(request)
        and not is_public(request)
    )
    # Only /v1 has callers: a token sent to a probe must not cost a session lookup.
    credentials = _credentials(request) if request.path.startswith("/v1/") else None
    if credentials is not None and credentials.from_cookie and not _origin_trusted(request):
        if needs_session:
            raise Forbidden(
                "This change was sent from a page that is not the Umbrella web app, so it"
                " was refused. Make it from the app, or send the token as a bearer token.",
                field=ORIGIN_FIELD,
            )
        credentials = None
    if credentials is not None:
        request[SESSION] = await request.app[SESSIONS].get(token=credentials.token)
    if needs_session and request[SESSION] is None:
        if credentials is not None:
            raise Unauthorized("Your session has expired or was revoked. Sign in again.")
        raise Unauthorized()
    return await handler(request)


def _credentials(request: web.Request) -> Credentials | None:
    authorization = request.headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return Credentials(token=value.strip(), from_cookie=False)
    cookie = request.cookies.get(request.app[keys.SETTINGS].session_cookie_name)
    return Credentials(token=cookie, from_cookie=True) if cookie else None


def _origin_trusted(request: web.Request) -> bool:
    """Whether a cookie may authenticate this request: safe methods always, writes from us only.

    The `Origin` header decides when present (even `null`, which matches nothing); without it
    the origin of the `Referer`; a write with neither is refused.
    """
    if request.method not in UNSAFE_METHODS:
        return True
    origin = request.headers.get("Origin")
    if origin is not None:
        sender = origin_of(origin, exact=True)
    else:
        referer = request.headers.get("Referer")
        sender = origin_of(referer, exact=False) if referer else None
    return sender is not None and sender in trusted_origins(request.app[keys.SETTINGS])


def trusted_origins(settings: Settings) -> frozenset[tuple[str, str, int]]:
    """The SPA origins of the CORS setting and the API's own public origin, normalised."""
    candidates = [*settings.cors_origins, settings.public_base_url]
    return frozenset(
        origin for origin in (origin_of(value, exact=False) for value in candidates) if origin
    )


def origin_of(value: str, *, exact: bool) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL; None for anything else.

    With `exact` the value must be a bare origin (an `Origin` header: no path, query,
    fragment). User info is never accepted: browsers never send it, attackers might.
    """
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    if exact and (parts.path not in ("", "/") or parts.query or parts.fragment):
        return None
    return scheme, host.lower(), port if port is not None else _DEFAULT_PORTS[scheme]
