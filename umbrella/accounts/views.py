"""HTTP handlers of the accounts domain: thin, one service call each.

Every route that signs someone in is rate limited per client IP first (`limit_sign_in`).
The login link and the callbacks are pages of the browser, not `fetch` calls: with a web
app configured (`auth_redirect_url`) each of their failures sends the browser back there
too (`SignInPage`), since a JSON error would strand the person on it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r302, r303, r400, r401, r404, r409, r429, r503
from yarl import URL

from umbrella import keys
from umbrella.accounts import service, signin
from umbrella.accounts.schemas import DevLoginIn, ProvidersOut, RevokedOut, SessionOut, SignedIn
from umbrella.accounts.service import SessionStore
from umbrella.config import Settings
from umbrella.core.errors import AppError, RateLimited
from umbrella.web.envelope import ErrorEnvelope, envelope_of, ok
from umbrella.web.middlewares import as_app_error
from umbrella.web.ratelimit import limit_sign_in
from umbrella.web.views import ApiView

# Where the browser-binding cookie of a sign-in in flight is sent over plain HTTP (development):
# login and callbacks. Over HTTPS it is a __Host- cookie, which must have the path /.
SIGN_IN_COOKIE_PATH = "/v1/auth"
# A __Host- cookie can be set only by this host itself, never by a sibling subdomain
# (no Domain), so no other site of the parent domain can plant a sign-in binding.
_HOST_ONLY = "__Host-"

# The whole session store (set by umbrella/app.py): keys.SESSIONS shows the web layer only
# its lookup, as keys.py sits below the domains and names none of their types.
SESSION_STORE = web.AppKey("session_store", SessionStore)


def sign_in_cookie_name(settings: Settings) -> str:
    prefix = _HOST_ONLY if settings.session_cookie_secure else ""
    return f"{prefix}{settings.session_cookie_name}_signin"


def set_session_cookie(response: web.StreamResponse, settings: Settings, token: str) -> None:
    response.set_cookie(
        settings.session_cookie_name,
        token,
        max_age=settings.session_ttl_seconds,
        httponly=True,
        secure=settings.session_cookie_secure,
        samesite="Lax",
        path="/",
    )


def set_sign_in_cookie(response: web.StreamResponse, settings: Settings, value: str) -> None:
    # Apple's callback is a cross-site form POST: only SameSite=None travels with it. Browsers
    # drop SameSite=None without Secure, so plain-HTTP development falls back to Lax (Google's
    # redirect is a top-level GET, which Lax allows; Apple needs HTTPS anyway).
    response.set_cookie(
        sign_in_cookie_name(settings),
        value,
        max_age=int(signin.STATE_TTL.total_seconds()),
        httponly=True,
        secure=settings.session_cookie_secure,
        samesite="None" if settings.session_cookie_secure else "Lax",
        path="/" if settings.session_cookie_secure else SIGN_IN_COOKIE_PATH,
    )


def _signed_in(
    request: web.Request, settings: Settings, result: signin.SignedInUser
) -> web.Response:
    """The JSON answer, or with `auth_redirect_url` a 303 to the web app (token in the cookie)."""
    if settings.auth_redirect_url is None:
        response = ok(request, SignedIn(token=result.token, session=result.session))
    else:
        query = {"onboarding_complete": "true" if result.session.onboarding_complete else "false"}
        if result.session.next_step is not None:
            query["next_step"] = result.session.next_step
        response = _see_other(URL(settings.auth_redirect_url).update_query(query))
    set_session_cookie(response, settings, result.token)
    return response


def _see_other(location: URL) -> web.Response:
    return web.Response(
        status=303, headers={"Location": str(location), "Cache-Control": "no-store"}
    )


def _failed(redirect_url: str, failure: AppError) -> web.Response:
    """A 303 to the web app with the error's code and field (and when to retry, for a 429)."""
    query = {"error": str(failure.code)}
    if failure.field is not None:
        query["field"] = failure.field
    if isinstance(failure, RateLimited):
        query["retry_after"] = str(max(1, failure.retry_after_seconds))
    return _see_other(URL(redirect_url).update_query(query))


class SignInPage(ApiView):
    """A public route the browser opens as a page: the login link and the callbacks."""

    public = True

    async def _in_web_app(self, sign_in: Callable[[], Awaitable[web.Response]]) -> web.Response:
        """`sign_in`'s answer; with a web app configured, its failure as a 303 there."""
        redirect_url = self.settings.auth_redirect_url
        if redirect_url is None:
            return await sign_in()
        try:
            return await sign_in()
        except web.HTTPException:
            raise  # aiohttp's own answers (none is expected here) keep their status
        except Exception as error:  # CancelledError is a BaseException: it passes through
            failure = as_app_error(self.request, error)
            self.request[keys.REDIRECTED_ERROR_STATUS] = failure.status
            return _failed(redirect_url, failure)


class ProvidersView(ApiView):
    public = True

    async def get(self) -> r200[envelope_of(ProvidersOut)]:
        """The sign-in providers configured here, each with its login link.

        Show one button per provider, in this order; each opens its `login_url` as a page.
        An empty list: this server signs nobody in with a provider (see the trusted-proxy
        and development sign-ins). Not rate limited; the same for everyone, so caches may
        keep it for a minute.

        Tags: auth
        """
        providers = signin.list_providers(
            oidc=self.request.config_dict[keys.OIDC],
            public_base_url=self.settings.public_base_url,
        )
        response = ok(self.request, providers)
        response.headers["Cache-Control"] = "public, max-age=60"
        # CORS headers depend on the Origin: a shared cache must not serve one origin's copy
        # to another.
        response.headers["Vary"] = "Origin"
        return response


class LoginView(SignInPage):
    async def get(
        self, provider: str, /
    ) -> r302 | r303 | r404[ErrorEnvelope] | r429[ErrorEnvelope] | r503[ErrorEnvelope]:
        """Start signing in with `google` or `apple`: a redirect to the provider.

        Open it as a page (a link or `window.location`), not with fetch: the provider's page
        comes next, then the callback. Rate limited per client IP with the other sign-in routes.
        With a configured web app every failure is a 303 there carrying `error` and `field`
        (and `retry_after` in seconds for `RATE_LIMIT_EXCEEDED`), as the callback's are.

        Status Codes:
            302: To the provider's sign-in page; sets a short cookie binding the attempt to
                this browser.
            303: Only with a configured web app: there, with the error.
            404: No such provider, or it is not configured (field `provider`).
            429: Too many sign-in requests from this IP; see `Retry-After`.
            503: The provider or our database is unavailable; see `Retry-After`.

        Tags: auth
        """
        return await self._in_web_app(lambda: self._start(provider))

    async def _start(self, provider: str) -> web.Response:
        await limit_sign_in(self.request)
        start = await signin.create_sign_in(
            oidc=self.request.config_dict[keys.OIDC],
            provider=provider,
            binding_cookie=self.request.cookies.get(sign_in_cookie_name(self.settings)),
        )
        response = web.Response(
            status=302, headers={"Location": start.url, "Cache-Control": "no-store"}
        )
        set_sign_in_cookie(response, self.settings, start.binding_cookie)
        return response


class CallbackView(SignInPage):
    """Where Google (a GET with the query) and Apple (a form POST) send the browser back."""

    async def get(
        self,
        provider: str,
        /,
        state: str | None = None,
        code: str | None = None,
        error: str | None = None,
    ) -> (
        r200[envelope_of(SignedIn)]
        | r303
        | r400[ErrorEnvelope]
        | r401[ErrorEnvelope]
        | r404[ErrorEnvelope]
        | r409[ErrorEnvelope]
        | r429[ErrorEnvelope]
        | r503[ErrorEnvelope]
    ):
        """The provider's redirect back (Google): sign in, open a session.

        Answers the session (token in the body and the cookie), or with a configured web app
        a 303 there carrying `onboarding_complete` and `next_step` (or `error` and `field`).

        Status Codes:
            200: Signed in: the token (also set as the session cookie) and the next step.
            303: Only with a configured web app: there, with the next step or the error.
            400: Field `state` (unknown, expired, used, or another browser's), `code`
                (missing, expired or used) or `error` (the person cancelled).
            401: The ID token failed verification (field `id_token`).
            404: No such provider, or it is not configured (field `provider`).
            409: The email belongs to an account that signs in another way (field `email`).
            429: Too many sign-in requests from this IP; see `Retry-After`.
            503: The provider is unavailable.

        Tags: auth
        """
        callback = signin.ProviderCallback(state=state, code=code, error=error)
        return await self._finish(provider, callback)

    async def post(
        self, provider: str, /
    ) -> (
        r200[envelope_of(SignedIn)]
        | r303
        | r400[ErrorEnvelope]
        | r401[ErrorEnvelope]
        | r404[ErrorEnvelope]
        | r409[ErrorEnvelope]
        | r429[ErrorEnvelope]
        | r503[ErrorEnvelope]
    ):
        """The provider's form POST back (Apple, `response_mode=form_post`): sign in.

        Form fields: `state`, `code`, `error`, and on the first sign-in `user` (JSON with the
        name). Answers like the GET.

        Status Codes:
            200: Signed in: the token (also set as the session cookie) and the next step.
            303: Only with a configured web app: there, with the next step or the error.
            400: Field `state`, `code` or `error`, as for the GET.
            401: The ID token failed verification (field `id_token`).
            404: No such provider, or it is not configured (field `provider`).
            409: The email belongs to an account that signs in another way (field `email`).
            429: Too many sign-in requests from this IP; see `Retry-After`.
            503: The provider is unavailable.

        Tags: auth
        """
        form = await self.request.post()

        def field(name: str) -> str | None:
            value = form.get(name)
            return value if isinstance(value, str) else None

        callback = signin.ProviderCallback(
            state=field("state"), code=field("code"), error=field("error"), user=field("user")
        )
        return await self._finish(provider, callback)

    async def _finish(self, provider: str, callback: signin.ProviderCallback) -> web.Response:
        async def sign_in() -> web.Response:
            await limit_sign_in(self.request)
            result = await signin.create_session_from_provider(
                oidc=self.request.config_dict[keys.OIDC],
                sessions=self.request.config_dict[SESSION_STORE],
                has_artist_profile=self.request.config_dict[keys.HAS_ARTIST_PROFILE],
                provider=provider,
                callback=callback,
                binding_cookie=self.request.cookies.get(sign_in_cookie_name(self.settings)),
                user_agent=self.request.headers.get("User-Agent"),
            )
            return _signed_in(self.request, self.settings, result)

        return await self._in_web_app(sign_in)


class ProxyCallbackView(ApiView):
    """Registered only when trusted-proxy sign-in is configured."""

    public = True

    async def post(self) -> r200[envelope_of(SignedIn)] | r401[ErrorEnvelope] | r429[ErrorEnvelope]:
        """Sign in with the JWT of the trusted auth proxy in front of the API.

        The proxy (e.g. Cloudflare Access) sends its JWT in the configured header (default
        `Cf-Access-Jwt-Assertion`); its `email` finds or creates the user.

        Status Codes:
            200: Signed in: the token (also set as the session cookie) and the next step.
            401: The header is missing, or its JWT is not valid or names no email (the
                field is the header's name).
            429: Too many sign-in requests from this IP; see `Retry-After`.

        Tags: auth
        """
        await limit_sign_in(self.request)
        result = await signin.create_session_from_proxy(
            oidc=self.request.config_dict[keys.OIDC],
            sessions=self.request.config_dict[SESSION_STORE],
            has_artist_profile=self.request.config_dict[keys.HAS_ARTIST_PROFILE],
            settings=self.settings,
            token=self.request.headers.get(self.settings.auth_proxy_header),
            user_agent=self.request.headers.get("User-Agent"),
        )
        response = ok(self.request, SignedIn(token=result.token, session=result.session))
        set_session_cookie(response, self.settings, result.token)
        return response


class SessionView(ApiView):
    async def get(self) -> r200[envelope_of(SessionOut)] | r401[ErrorEnvelope]:
        """The signed-in user, whether onboarding is complete and which step is next.

        Tags: auth
        """
        session = await service.get_session(
            user_id=self.session.user_id,
            expires_at=self.session.expires_at,
            has_artist_profile=self.request.config_dict[keys.HAS_ARTIST_PROFILE],
        )
        return ok(self.request, session)

    async def delete(self) -> r200[envelope_of(RevokedOut)] | r401[ErrorEnvelope]:
        """Sign out this device: revoke the session making the call.

        Tags: auth
        """
        sessions = self.request.config_dict[SESSION_STORE]
        await sessions.delete(token_hash=self.session.token_hash)
        response = ok(self.request, RevokedOut(revoked=1))
        response.del_cookie(self.settings.session_cookie_name, path="/")
        return response


class LogoutView(ApiView):
    async def post(self) -> r200[envelope_of(RevokedOut)] | r401[ErrorEnvelope]:
        """Sign out everywhere: revoke every session of the signed-in user.

        Tags: auth
        """
        sessions = self.request.config_dict[SESSION_STORE]
        revoked = await sessions.delete_all_for_user(user_id=self.session.user_id)
        response = ok(self.request, RevokedOut(revoked=revoked))
        response.del_cookie(self.settings.session_cookie_name, path="/")
        return response


class DevLoginView(ApiView):
    """Registered only when UMBRELLA_ENV=development."""

    public = True

    async def post(
        self, body: DevLoginIn
    ) -> r200[envelope_of(SignedIn)] | r404[ErrorEnvelope] | r429[ErrorEnvelope]:
        """Development only: sign in as a user by email or id (`create` makes a new one).

        Tags: auth
        """
        await limit_sign_in(self.request)
        if body.user_id is not None:
            user = await service.get_user(user_id=body.user_id)
        elif body.create:
            user = await service.get_or_create_dev_user(email=str(body.email))
        else:
            user = await service.get_user_by_email(email=str(body.email))
        sessions = self.request.config_dict[SESSION_STORE]
        new = await sessions.create(
            user_id=user["id"], user_agent=self.request.headers.get("User-Agent")
        )
        session = await service.get_session(
            user_id=user["id"],
            expires_at=new.info.expires_at,
            has_artist_profile=self.request.config_dict[keys.HAS_ARTIST_PROFILE],
        )
        response = ok(self.request, SignedIn(token=new.token, session=session))
        set_session_cookie(response, self.settings, new.token)
        return response


def routes(settings: Settings) -> list[web.AbstractRouteDef]:
    table: list[web.AbstractRouteDef] = [
        web.view("/v1/auth/providers", ProvidersView),
        web.view("/v1/auth/login/{provider}", LoginView),
        web.view("/v1/auth/callback/{provider}", CallbackView),
        web.view("/v1/auth/session", SessionView),
        web.view("/v1/auth/logout", LogoutView),
    ]
    if settings.auth_proxy_enabled:
        table.append(web.view("/v1/auth/callback", ProxyCallbackView))
    if settings.dev_login_enabled:
        table.append(web.view("/v1/auth/dev-login", DevLoginView))
    return table
