"""Sign-in (D-001): Google and Apple through OIDC, or a trusted auth proxy's JWT.

The provider flow keeps everything that proves an attempt server-side: `oauth_states` holds
the SHA-256 of the state with the nonce and PKCE verifier for 10 minutes, and the callback
deletes the row as it reads it, so a state works once. The attempt is also bound to the
browser that started it: each login mints a fresh random value, the row keeps its hash, the
value goes only into that login's response cookie, and the callback refuses a state
arriving without it (login CSRF: an attacker cannot make a victim's browser finish the
attacker's sign-in). A value the client presents is never adopted: it could have been
planted by a sibling site. The cookie also carries the values of the browser's other
sign-ins still in flight (a second tab), but only values whose attempt is still waiting.

A user is found by (provider, sub) or created; an email that already belongs to someone
who signs in another way is refused with 409 rather than linked silently. Opening the
session, creating the user and the D-006 onboarding reset share one transaction.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from umbrella.accounts import service
from umbrella.accounts.schemas import ProviderId, ProviderOut, ProvidersOut, SessionOut
from umbrella.accounts.service import SessionStore, hash_token
from umbrella.accounts.tables import OAuthState, User
from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from umbrella.integrations.oidc import OidcClient
from umbrella.integrations.oidc_token import TokenEndpointError
from umbrella.integrations.oidc_verify import IdTokenClaims, InvalidIdToken
from umbrella.keys import ArtistProfileCheck
from umbrella.piccolo_conf import DB

log = logging.getLogger(__name__)

STATE_TTL = timedelta(minutes=10)
BROWSER_BINDING_BYTES = 32
# Ours are 43 url-safe characters; anything else in the cookie is dropped, never trusted.
_BROWSER_BINDING = re.compile(r"^[A-Za-z0-9_-]{43}$")
# Sign-ins one browser may have in flight at once (tabs): the cookie holds one value each.
MAX_BINDINGS = 3
_BINDING_SEPARATOR = "."
# States we issue are 43 characters; a longer one is not ours and is not even hashed.
MAX_STATE_LENGTH = 128
MAX_EMAIL_LENGTH = 320
MAX_OAUTH_ID_LENGTH = 255
MAX_DISPLAY_NAME_LENGTH = 100
# What the providers send when the person pressed "Cancel" (Google, Apple).
_CANCELLED = {"access_denied", "user_cancelled_authorize"}
_PROVIDER_NAMES = {"google": "Google", "apple": "Apple"}
# The providers we know, in the order a sign-in page lists them.
_PROVIDER_IDS: tuple[ProviderId, ...] = ("google", "apple")


def _provider_name(provider: str | None) -> str:
    return _PROVIDER_NAMES.get(provider or "", "another sign-in method")


class CallbackRefusal(StrEnum):
    """Why a callback was refused before the code exchange: for the log line, not the person."""

    CANCELLED = "cancelled"
    # The provider sent another `error` than the person's cancel.
    PROVIDER_ERROR = "provider_error"
    MISSING_STATE = "missing_state"
    # Never issued, or already used (its row is deleted as it is used).
    UNKNOWN_STATE = "unknown_state"
    EXPIRED_STATE = "expired_state"
    OTHER_PROVIDER = "other_provider"
    OTHER_BROWSER = "other_browser"
    MISSING_CODE = "missing_code"


@dataclass(frozen=True)
class SignInStart:
    """Where to send the browser, and the value its sign-in cookie must hold."""

    url: str = field(repr=False)
    binding_cookie: str = field(repr=False)


@dataclass(frozen=True)
class ProviderCallback:
    """What the provider sent back to the callback (query string or Apple's form)."""

    state: str | None = None
    code: str | None = None
    error: str | None = None
    # Apple's JSON with the person's name, sent once, on the first sign-in only.
    user: str | None = None


@dataclass(frozen=True)
class SignedInUser:
    """An opened session: the token (shown once) and what the client needs to continue."""

    token: str = field(repr=False)
    session: SessionOut
    created: bool


def list_providers(*, oidc: OidcClient, public_base_url: str) -> ProvidersOut:
    """The providers configured here, each with the absolute link that starts signing in."""
    return ProvidersOut(
        providers=[
            ProviderOut(
                id=provider_id,
                name=oidc.providers[provider_id].display_name,
                login_url=f"{public_base_url}/v1/auth/login/{provider_id}",
            )
            for provider_id in _PROVIDER_IDS
            if provider_id in oidc.providers
        ]
    )


async def create_sign_in(
    *, oidc: OidcClient, provider: str, binding_cookie: str | None
) -> SignInStart:
    """Start a sign-in: remember state, nonce and verifier for 10 minutes; say where to go."""
    if provider not in oidc.providers:
        raise NotFound("No such sign-in provider.", field="provider")
    request = await oidc.authorization_request(provider)
    # Minted here for this attempt alone: a value the browser brings may be one an
    # attacker planted and knows, so it never binds anything new.
    binding = secrets.token_urlsafe(BROWSER_BINDING_BYTES)
    waiting = await _bindings_in_flight(_bindings(binding_cookie))
    now = datetime.now(UTC)
    await OAuthState.insert(
        OAuthState(
            state_hash=hash_token(request.state),
            provider=provider,
            nonce=request.nonce,
            code_verifier=request.code_verifier,
            browser_hash=hash_token(binding),
            created_at=now,
            expires_at=now + STATE_TTL,
        )
    )
    cookie = _BINDING_SEPARATOR.join([binding, *waiting][:MAX_BINDINGS])
    return SignInStart(url=request.url, binding_cookie=cookie)


async def create_session_from_provider(
    *,
    oidc: OidcClient,
    sessions: SessionStore,
    has_artist_profile: ArtistProfileCheck,
    provider: str,
    callback: ProviderCallback,
    binding_cookie: str | None,
    user_agent: str | None,
) -> SignedInUser:
    """Finish a sign-in: check state and browser, exchange the code, verify, open a session."""
    if provider not in oidc.providers:
        raise NotFound("No such sign-in provider.", field="provider")
    # Used up first, whatever happens next: a state never works twice.
    attempt, refusal = await _take_state(callback.state)
    if callback.error:
        cancelled = callback.error in _CANCELLED
        _log_refusal(
            provider, CallbackRefusal.CANCELLED if cancelled else CallbackRefusal.PROVIDER_ERROR
        )
        if cancelled:
            message = f"You cancelled signing in with {_provider_name(provider)}. Start again."
        else:
            message = f"{_provider_name(provider)} did not sign you in. Start again."
        raise ValidationFailed(message, field="error")
    if attempt is not None and attempt["provider"] != provider:
        attempt, refusal = None, CallbackRefusal.OTHER_PROVIDER
    if attempt is None:
        _log_refusal(provider, refusal or CallbackRefusal.UNKNOWN_STATE)
        raise ValidationFailed(
            "This sign-in link is unknown, expired or already used. Start again.", field="state"
        )
    if not any(
        secrets.compare_digest(hash_token(binding), attempt["browser_hash"])
        for binding in _bindings(binding_cookie)
    ):
        _log_refusal(provider, CallbackRefusal.OTHER_BROWSER)
        raise ValidationFailed(
            "This sign-in was started in another browser. Start again here.", field="state"
        )
    if not callback.code:
        _log_refusal(provider, CallbackRefusal.MISSING_CODE)
        raise ValidationFailed("The provider sent no authorization code.", field="code")

    try:
        tokens = await oidc.exchange_code(provider, callback.code, attempt["code_verifier"])
    except TokenEndpointError as error:
        if error.oauth_error != "invalid_grant":
            raise  # our configuration: a 500, logged by the client as an error
        raise ValidationFailed(
            "This sign-in code expired or was already used. Start again.", field="code"
        ) from None
    try:
        claims = await oidc.verify_id_token(provider, tokens.id_token, nonce=attempt["nonce"])
    except InvalidIdToken as error:
        log.warning("id token rejected", extra={"provider": provider, "reason": error.reason})
        raise Unauthorized(
            f"We could not verify your sign-in with {_provider_name(provider)}. Start again.",
            field="id_token",
        ) from None

    if len(claims.sub) > MAX_OAUTH_ID_LENGTH:
        raise Unauthorized("We could not read your account id. Start again.", field="id_token")
    display_name = _clean_name(claims.name) or _apple_name(callback.user)
    return await _open_session(
        sessions,
        lambda: _find_or_create_provider_user(claims, display_name),
        has_artist_profile=has_artist_profile,
        via=provider,
        user_agent=user_agent,
    )


async def create_session_from_proxy(
    *,
    oidc: OidcClient,
    sessions: SessionStore,
    has_artist_profile: ArtistProfileCheck,
    settings: Settings,
    token: str | None,
    user_agent: str | None,
) -> SignedInUser:
    """Sign in whoever the trusted auth proxy vouches for (its JWT names a verified email)."""
    header = settings.auth_proxy_header
    if not settings.auth_proxy_enabled:
        raise NotFound()
    assert settings.auth_proxy_jwks_url is not None
    assert settings.auth_proxy_issuer is not None
    assert settings.auth_proxy_audience is not None
    if not token:
        raise Unauthorized("The sign-in proxy's token is missing.", field=header)
    try:
        claims = await oidc.verify_jwt(
            token,
            jwks_url=settings.auth_proxy_jwks_url,
            issuer=settings.auth_proxy_issuer,
            audience=settings.auth_proxy_audience,
        )
    except InvalidIdToken as error:
        log.warning("proxy token rejected", extra={"reason": error.reason})
        raise Unauthorized("The sign-in proxy's token is not valid.", field=header) from None
    email = _proxy_email(claims)
    if email is None:
        raise Unauthorized("The sign-in proxy's token names no verified email.", field=header)
    name = claims.get("name")
    display_name = _clean_name(name if isinstance(name, str) else None)

    return await _open_session(
        sessions,
        lambda: _find_or_create_proxy_user(email, display_name),
        has_artist_profile=has_artist_profile,
        via="proxy",
        user_agent=user_agent,
    )


async def _open_session(
    sessions: SessionStore,
    find_or_create: Callable[[], Awaitable[tuple[UUID, bool]]],
    *,
    has_artist_profile: ArtistProfileCheck,
    via: str,
    user_agent: str | None,
) -> SignedInUser:
    """The user and their new session in one transaction; cached in Redis once committed."""
    async with DB.transaction():
        user_id, created = await find_or_create()
        new = await sessions.open(user_id=user_id, user_agent=user_agent)
    await sessions.remember(new.info)
    log.info("signed in", extra={"provider": via, "user_id": str(user_id), "new_user": created})
    session = await service.get_session(
        user_id=user_id, expires_at=new.info.expires_at, has_artist_profile=has_artist_profile
    )
    return SignedInUser(token=new.token, session=session, created=created)


async def delete_expired_oauth_states() -> int:
    """Forget sign-in attempts that were never finished."""
    deleted = (
        await OAuthState.delete()
        .where(OAuthState.expires_at <= datetime.now(UTC))
        .returning(OAuthState.state_hash)
    )
    return len(deleted)


# -- helpers ---------------------------------------------------------------------------------


def _bindings(cookie: str | None) -> list[str]:
    """The well-formed values of a sign-in cookie, newest first (at most `MAX_BINDINGS`)."""
    if not cookie:
        return []
    values = cookie.split(_BINDING_SEPARATOR, MAX_BINDINGS)[:MAX_BINDINGS]
    return [value for value in values if _BROWSER_BINDING.match(value)]


async def _bindings_in_flight(bindings: list[str]) -> list[str]:
    """Those of `bindings` we minted for an attempt still waiting: the browser's other tabs."""
    if not bindings:
        return []
    hashes = {hash_token(binding): binding for binding in bindings}
    rows = await OAuthState.select(OAuthState.browser_hash).where(
        OAuthState.browser_hash.is_in(list(hashes)),
        OAuthState.expires_at > datetime.now(UTC),
    )
    waiting = {row["browser_hash"] for row in rows}
    return [binding for digest, binding in hashes.items() if digest in waiting]


async def _take_state(state: str | None) -> tuple[dict[str, Any] | None, CallbackRefusal | None]:
    """Delete and return the live attempt this state names, or None and the reason why not."""
    if not state:
        return None, CallbackRefusal.MISSING_STATE
    if len(state) > MAX_STATE_LENGTH:
        return None, CallbackRefusal.UNKNOWN_STATE
    rows = (
        await OAuthState.delete()
        .where(OAuthState.state_hash == hash_token(state))
        .returning(
            OAuthState.provider,
            OAuthState.nonce,
            OAuthState.code_verifier,
            OAuthState.browser_hash,
            OAuthState.expires_at,
        )
    )
    # A used state's row is gone: "used" and "never issued" look the same, both unknown.
    if not rows:
        return None, CallbackRefusal.UNKNOWN_STATE
    if rows[0]["expires_at"] <= datetime.now(UTC):
        return None, CallbackRefusal.EXPIRED_STATE
    row: dict[str, Any] = rows[0]
    return row, None


def _log_refusal(provider: str, reason: CallbackRefusal) -> None:
    """One line per refused callback, with why; never the state, code or cookie."""
    # Another browser's state or the other provider's is what a login-CSRF attempt looks like.
    suspicious = reason in (CallbackRefusal.OTHER_BROWSER, CallbackRefusal.OTHER_PROVIDER)
    log.log(
        logging.WARNING if suspicious else logging.INFO,
        "sign-in refused",
        extra={"provider": provider, "reason": str(reason)},
    )


def _verified_email(claims: IdTokenClaims) -> str | None:
    # An unverified address may be someone else's: it must neither claim nor block an account.
    if not claims.email_verified or claims.email is None:
        return None
    return _clean_email(claims.email)


def _clean_email(email: str) -> str | None:
    cleaned = email.strip().lower()
    if "@" not in cleaned or len(cleaned) > MAX_EMAIL_LENGTH:
        return None
    return cleaned


def _clean_name(name: str | None) -> str | None:
    if not name:
        return None
    cleaned = " ".join(name.split())[:MAX_DISPLAY_NAME_LENGTH].strip()
    return cleaned or None


def _apple_name(user: str | None) -> str | None:
    """The name in Apple's `user` form field (JSON, first sign-in only); None if absent or odd."""
    if not user:
        return None
    try:
        data = json.loads(user)
    except ValueError:
        return None
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, dict):
        return None
    parts = [name.get("firstName"), name.get("lastName")]
    return _clean_name(" ".join(part for part in parts if isinstance(part, str)))


def _proxy_email(claims: dict[str, Any]) -> str | None:
    email = claims.get("email")
    # Access proxies vouch for the address they authenticated; an explicit "false" is refused.
    if not isinstance(email, str) or claims.get("email_verified") in (False, "false"):
        return None
    return _clean_email(email)


async def _find_or_create_provider_user(
    claims: IdTokenClaims, display_name: str | None
) -> tuple[UUID, bool]:
    """(user id, created) for this provider identity; runs inside the caller's transaction."""
    identity = (User.oauth_provider == claims.provider) & (User.oauth_id == claims.sub)
    existing = await User.select(User.id).where(identity).first()
    if existing is not None:
        return existing["id"], False
    email = _verified_email(claims)
    if email is not None:
        owner = (
            await User.select(User.id, User.oauth_provider, User.oauth_id)
            .where(User.email == email)
            .first()
        )
        if owner is not None:
            return await _link_or_refuse(owner, claims), False
    now = datetime.now(UTC)
    rows = await db.fetch(
        "INSERT INTO users (oauth_provider, oauth_id, email, display_name, role,"
        " onboarding_complete, onboarding_step, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, 'artist', false, 0, $5, $6)"
        " ON CONFLICT DO NOTHING RETURNING id",
        claims.provider,
        claims.sub,
        email,
        display_name,
        now,
        now,
    )
    if rows:
        return rows[0]["id"], True
    # Another request created this identity (or took the email) between our read and write.
    existing = await User.select(User.id).where(identity).first()
    if existing is not None:
        return existing["id"], False
    raise _email_taken(None)


async def _link_or_refuse(owner: dict[str, Any], claims: IdTokenClaims) -> UUID:
    """Give a provider-less account (made by an operator or the proxy) its first identity."""
    if owner["oauth_provider"] == claims.provider:
        name = _provider_name(claims.provider)
        raise Conflict(
            f"This email already belongs to another {name} account. Sign in with that one.",
            field="email",
        )
    if owner["oauth_provider"] is not None:
        raise _email_taken(owner["oauth_provider"])
    linked = await db.fetch(
        "UPDATE users SET oauth_provider = $1, oauth_id = $2, updated_at = now()"
        " WHERE id = $3 AND oauth_provider IS NULL RETURNING id",
        claims.provider,
        claims.sub,
        owner["id"],
    )
    if not linked:
        raise _email_taken(None)
    user_id: UUID = owner["id"]
    return user_id


def _email_taken(provider: str | None) -> Conflict:
    if provider is None:
        message = "This email already belongs to another account. Sign in the way you did before."
    else:
        name = _provider_name(provider)
        message = (
            f"This email already belongs to an account that signs in with {name}. "
            f"Sign in with {name} instead."
        )
    return Conflict(message, field="email")


async def _find_or_create_proxy_user(email: str, display_name: str | None) -> tuple[UUID, bool]:
    """(user id, created) for the proxy's email; runs inside the caller's transaction."""
    now = datetime.now(UTC)
    rows = await db.fetch(
        "INSERT INTO users (email, display_name, role, onboarding_complete, onboarding_step,"
        " created_at, updated_at)"
        " VALUES ($1, $2, 'artist', false, 0, $3, $4)"
        " ON CONFLICT (email) DO NOTHING RETURNING id",
        email,
        display_name,
        now,
        now,
    )
    if rows:
        return rows[0]["id"], True
    existing = await User.select(User.id).where(User.email == email).first()
    if existing is None:  # deleted between the two statements: the proxy may simply retry
        raise Conflict("This account changed while signing in. Try again.", field="email")
    return existing["id"], False
