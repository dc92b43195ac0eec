"""Sign-in with Google and Apple (OIDC, D-001): authorization URLs, code exchange, ID tokens.

`authlib` builds the authorization request (PKCE S256, state, nonce) and the token request;
`joserfc` checks ID tokens against the provider's keys (JWKS), which are cached and
refreshed at once when a token names a key we have not seen (rate-limited, so a flood of
made-up `kid`s cannot make us hammer the provider). The login and callback routes keep
state, nonce and verifier server-side and call this module; they answer:

- `InvalidIdToken` → 401 (its `reason` is for the logs only);
- `DependencyUnavailable` → 503 (the provider is down, slow or throttling us);
- `ProviderError` (never retryable here) → the provider refused for good: an expired or
  reused code (`TokenEndpointError.oauth_error == "invalid_grant"`, 401) or our own
  configuration (invalid_client, a wrong discovery URL: 500, logged as an error).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, NoReturn

import aiohttp
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import ClaimError, JoseError
from joserfc.jwk import ECKey, RSAKey
from pydantic import SecretStr

from umbrella.config import Settings
from umbrella.integrations.base import ProviderCall, ProviderError, is_retryable_status
from umbrella.observability.metrics import Metrics
from umbrella.web.errors import DependencyUnavailable, NotFound

log = logging.getLogger(__name__)

SERVICE = "oidc"
# The only signature we accept: Google and Apple sign ID tokens with RS256.
ALGORITHM = "RS256"
LEEWAY_SECONDS = 30
# At most one refresh forced by an unknown `kid` per JWKS URL in this many seconds.
FORCED_REFRESH_INTERVAL_SECONDS = 30.0
APPLE_AUDIENCE = "https://appleid.apple.com"
# Apple allows up to 6 months; an hour limits the damage of a leaked secret.
APPLE_SECRET_LIFETIME_SECONDS = 3600
APPLE_SECRET_RENEW_SECONDS = 300
# Google's ID tokens may carry the issuer without the scheme.
_ISSUER_ALIASES = {"https://accounts.google.com": ("accounts.google.com",)}
_DISPLAY_NAMES = {"google": "Google", "apple": "Apple"}


class InvalidIdToken(Exception):
    """The token is not one we accept; `reason` says why (for logs, never for the client)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class TokenEndpointError(ProviderError):
    """The token endpoint refused the code; `oauth_error` is its RFC 6749 code, if any."""

    def __init__(
        self, message: str, *, oauth_error: str | None, retryable: bool, status: int | None
    ) -> None:
        self.oauth_error = oauth_error
        super().__init__(SERVICE, message, retryable=retryable, status=status)


@dataclass(frozen=True)
class AppleSigningKey:
    """What signs Apple's client secret: team id (issuer), key id and the ES256 private key."""

    team_id: str
    key_id: str
    private_key: SecretStr


@dataclass(frozen=True)
class OidcProviderConfig:
    """One identity provider as configured: who we are to it and where it sends users back."""

    name: str
    client_id: str
    discovery_url: str
    redirect_uri: str
    scope: str
    response_mode: str | None = None
    client_secret: SecretStr | None = None
    apple_key: AppleSigningKey | None = None

    @property
    def display_name(self) -> str:
        return _DISPLAY_NAMES.get(self.name, self.name.capitalize())


def enabled_providers(settings: Settings) -> dict[str, OidcProviderConfig]:
    """Google when its client id is set, Apple when its client id is set."""
    providers: dict[str, OidcProviderConfig] = {}

    def redirect_uri(name: str) -> str:
        return f"{settings.public_base_url}/v1/auth/callback/{name}"

    if settings.google_client_id:
        providers["google"] = OidcProviderConfig(
            name="google",
            client_id=settings.google_client_id,
            discovery_url=settings.google_discovery_url,
            redirect_uri=redirect_uri("google"),
            scope="openid email profile",
            client_secret=settings.google_client_secret,
        )
    if settings.apple_client_id:
        # Settings refuse to load without these three (config.py); this only narrows types.
        assert settings.apple_team_id is not None
        assert settings.apple_key_id is not None
        assert settings.apple_private_key is not None
        providers["apple"] = OidcProviderConfig(
            name="apple",
            client_id=settings.apple_client_id,
            discovery_url=settings.apple_discovery_url,
            redirect_uri=redirect_uri("apple"),
            # Apple sends name and email only with form_post (the browser POSTs the callback).
            scope="name email",
            response_mode="form_post",
            apple_key=AppleSigningKey(
                team_id=settings.apple_team_id,
                key_id=settings.apple_key_id,
                private_key=settings.apple_private_key,
            ),
        )
    return providers


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of a discovery document we use."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the browser, and what the callback must find again (keep it server-side)."""

    provider: str
    url: str
    state: str
    nonce: str = field(repr=False)
    code_verifier: str = field(repr=False)


@dataclass(frozen=True)
class TokenResponse:
    """The token endpoint's answer; only `id_token` matters for sign-in."""

    id_token: str = field(repr=False)
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    token_type: str | None = None
    expires_in: int | None = None
    scope: str | None = None


@dataclass(frozen=True)
class IdTokenClaims:
    """Who signed in: `sub` is the stable id at the provider (`oauth_id`)."""

    provider: str
    sub: str
    email: str | None
    email_verified: bool
    name: str | None


@dataclass
class _Jwks:
    keys: dict[str, RSAKey]
    fetched_at: float
    forced_at: float = float("-inf")


@dataclass
class _Discovery:
    metadata: ProviderMetadata
    fetched_at: float


class OidcClient:
    """Talks to the configured identity providers over one HTTP session; caches what it can."""

    def __init__(
        self,
        settings: Settings,
        metrics: Metrics,
        *,
        forced_refresh_interval_seconds: float = FORCED_REFRESH_INTERVAL_SECONDS,
    ) -> None:
        self.providers = enabled_providers(settings)
        self._metrics = metrics
        self._timeout = aiohttp.ClientTimeout(total=settings.oidc_timeout_seconds)
        self._cache_seconds = settings.oidc_jwks_cache_seconds
        self._forced_refresh_interval = forced_refresh_interval_seconds
        self._session: aiohttp.ClientSession | None = None
        self._discovery: dict[str, _Discovery] = {}
        self._jwks: dict[str, _Jwks] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._apple_secret: tuple[str, int] | None = None
        self._apple_key: ECKey | None = None
        apple = self.providers.get("apple")
        if apple is not None and apple.apple_key is not None:
            self._apple_key = _load_apple_key(apple.apple_key.private_key)

    # -- the sign-in flow -------------------------------------------------------------------

    def provider(self, name: str) -> OidcProviderConfig:
        """The enabled provider of that name; `NotFound` for any other."""
        config = self.providers.get(name)
        if config is None:
            raise NotFound("No such sign-in provider.")
        return config

    async def metadata(self, provider: str) -> ProviderMetadata:
        """The provider's discovery document, fetched once per cache period."""
        config = self.provider(provider)
        url = config.discovery_url
        cached = self._discovery.get(url)
        if cached is not None and not self._expired(cached.fetched_at):
            return cached.metadata
        async with self._lock(url):
            cached = self._discovery.get(url)
            if cached is not None and not self._expired(cached.fetched_at):
                return cached.metadata
            try:
                document = await self._get_json(url, what="discovery", dependency=config)
            except DependencyUnavailable:
                if cached is None:
                    raise
                log.warning(
                    "oidc discovery refresh failed; using the cached document",
                    extra={"provider": provider},
                )
                cached.fetched_at = time.monotonic()  # try again after a cache period
                return cached.metadata
            metadata = _parse_metadata(document, provider)
            self._discovery[url] = _Discovery(metadata, time.monotonic())
            return metadata

    async def authorization_request(self, provider: str) -> AuthorizationRequest:
        """A fresh state, nonce and PKCE verifier, and the provider URL that carries them."""
        config = self.provider(provider)
        metadata = await self.metadata(provider)
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_urlsafe(32)
        code_verifier = generate_token(64)  # RFC 7636: 43-128 unreserved characters
        url = prepare_grant_uri(
            metadata.authorization_endpoint,
            client_id=config.client_id,
            response_type="code",
            redirect_uri=config.redirect_uri,
            scope=config.scope,
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(code_verifier),
            code_challenge_method="S256",
            response_mode=config.response_mode,
        )
        return AuthorizationRequest(
            provider=provider, url=url, state=state, nonce=nonce, code_verifier=code_verifier
        )

    async def exchange_code(self, provider: str, code: str, code_verifier: str) -> TokenResponse:
        """Trade the callback's code (and our PKCE verifier) for the provider's tokens."""
        config = self.provider(provider)
        metadata = await self.metadata(provider)
        body = prepare_token_request(
            "authorization_code",
            redirect_uri=config.redirect_uri,
            code=code,
            client_id=config.client_id,
            client_secret=self._client_secret(config),
            code_verifier=code_verifier,
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        call = ProviderCall(self._metrics, SERVICE)
        try:
            async with self._http().post(
                metadata.token_endpoint, data=body, headers=headers
            ) as response:
                status = response.status
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            self._unavailable(call, config, f"token request failed: {type(error).__name__}", error)
        answer = _json_object(raw)
        if status != 200:
            self._token_refused(call, config, status, answer)
        id_token = answer.get("id_token") if answer is not None else None
        if answer is None or not isinstance(id_token, str):
            # A 200 that is not a token response: a proxy or the provider having a bad moment.
            self._unavailable(call, config, "token response without an id_token", None)
        call.record(None)
        expires_in = answer.get("expires_in")
        return TokenResponse(
            id_token=id_token,
            access_token=_str_or_none(answer.get("access_token")),
            refresh_token=_str_or_none(answer.get("refresh_token")),
            token_type=_str_or_none(answer.get("token_type")),
            expires_in=expires_in if isinstance(expires_in, int) else None,
            scope=_str_or_none(answer.get("scope")),
        )

    async def verify_id_token(self, provider: str, id_token: str, *, nonce: str) -> IdTokenClaims:
        """The signed-in person, once signature, issuer, audience, times and nonce check out."""
        config = self.provider(provider)
        metadata = await self.metadata(provider)
        issuers = [metadata.issuer, *_ISSUER_ALIASES.get(metadata.issuer, ())]
        claims = await self._verify(
            id_token,
            jwks_url=metadata.jwks_uri,
            issuers=issuers,
            audience=config.client_id,
            dependency=config,
        )
        token_nonce = claims.get("nonce")
        if (
            not nonce
            or not isinstance(token_nonce, str)
            or not secrets.compare_digest(token_nonce.encode(), nonce.encode())
        ):
            raise InvalidIdToken("nonce does not match the authorization request")
        email = claims.get("email")
        name = claims.get("name")
        return IdTokenClaims(
            provider=provider,
            sub=claims["sub"],
            email=email if isinstance(email, str) and email else None,
            # Apple sends "true"/"false" as strings, Google as booleans.
            email_verified=claims.get("email_verified") in (True, "true"),
            name=name if isinstance(name, str) and name else None,
        )

    async def verify_jwt(
        self, token: str, *, jwks_url: str, issuer: str, audience: str
    ) -> dict[str, Any]:
        """The claims of an RS256 JWT from a trusted proxy (e.g. `Cf-Access-Jwt-Assertion`)."""
        return await self._verify(
            token, jwks_url=jwks_url, issuers=[issuer], audience=audience, dependency=None
        )

    async def aclose(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- ID token checks --------------------------------------------------------------------

    async def _verify(
        self,
        token: str,
        *,
        jwks_url: str,
        issuers: list[str],
        audience: str,
        dependency: OidcProviderConfig | None,
    ) -> dict[str, Any]:
        header = _unverified_header(token)
        # Checked before any key is looked up: no `none`, no HS256 keyed with our RSA key.
        if header.get("alg") != ALGORITHM:
            raise InvalidIdToken(f"algorithm {header.get('alg')!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidIdToken("the token names no key (kid)")
        key = await self._signing_key(jwks_url, kid, dependency)
        try:
            claims = jwt.decode(token, key, algorithms=[ALGORITHM]).claims
        except JoseError as error:
            raise InvalidIdToken(f"signature rejected ({error.error})") from None
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_SECONDS,
            iss={"essential": True, "values": issuers},
            aud={"essential": True, "value": audience},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
        )
        try:
            registry.validate(claims)
        except ClaimError as error:
            raise InvalidIdToken(f"claim {error.claim!r} rejected ({error.error})") from None
        except JoseError as error:
            raise InvalidIdToken(f"claims rejected ({error.error})") from None
        audiences = claims["aud"]
        # OIDC Core 3.1.3.7: with several audiences, the authorized party must be us.
        if isinstance(audiences, list) and len(audiences) > 1 and claims.get("azp") != audience:
            raise InvalidIdToken("several audiences and azp is not our client id")
        return claims

    async def _signing_key(
        self, jwks_url: str, kid: str, dependency: OidcProviderConfig | None
    ) -> RSAKey:
        jwks = self._jwks.get(jwks_url)
        if jwks is None or self._expired(jwks.fetched_at):
            jwks = await self._refresh_jwks(jwks_url, dependency, forced=False)
        key = jwks.keys.get(kid)
        if key is not None:
            return key
        # A key we have not seen: the provider may have rotated. Refresh once, rate-limited.
        jwks = await self._refresh_jwks(jwks_url, dependency, forced=True)
        key = jwks.keys.get(kid)
        if key is None:
            raise InvalidIdToken("unknown signing key (kid)")
        return key

    async def _refresh_jwks(
        self, url: str, dependency: OidcProviderConfig | None, *, forced: bool
    ) -> _Jwks:
        async with self._lock(url):
            current = self._jwks.get(url)
            now = time.monotonic()
            if current is not None:
                if not forced and not self._expired(current.fetched_at):
                    return current  # another task refreshed it while we waited
                if forced and now - current.forced_at < self._forced_refresh_interval:
                    return current
                if forced:
                    current.forced_at = now
            try:
                document = await self._get_json(url, what="jwks", dependency=dependency)
            except DependencyUnavailable:
                if current is None or forced:
                    raise
                log.warning("jwks refresh failed; using the cached keys", extra={"jwks_url": url})
                current.fetched_at = now  # retry after another cache period, not every call
                return current
            fresh = _Jwks(_parse_jwks(document, url), fetched_at=now)
            fresh.forced_at = current.forced_at if current is not None else float("-inf")
            self._jwks[url] = fresh
            return fresh

    # -- client authentication --------------------------------------------------------------

    def _client_secret(self, config: OidcProviderConfig) -> str | None:
        if config.apple_key is not None:
            return self._apple_client_secret(config, config.apple_key)
        return config.client_secret.get_secret_value() if config.client_secret else None

    def _apple_client_secret(self, config: OidcProviderConfig, apple: AppleSigningKey) -> str:
        """Apple's client secret: an ES256 JWT we sign ourselves, reused until near its expiry."""
        now = int(time.time())
        if (
            self._apple_secret is not None
            and self._apple_secret[1] - now > APPLE_SECRET_RENEW_SECONDS
        ):
            return self._apple_secret[0]
        assert self._apple_key is not None
        expires = now + APPLE_SECRET_LIFETIME_SECONDS
        secret = jwt.encode(
            {"alg": "ES256", "kid": apple.key_id},
            {
                "iss": apple.team_id,
                "iat": now,
                "exp": expires,
                "aud": APPLE_AUDIENCE,
                "sub": config.client_id,
            },
            self._apple_key,
            algorithms=["ES256"],
            default_type=None,
        )
        self._apple_secret = (secret, expires)
        return secret

    # -- HTTP -------------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def _get_json(
        self, url: str, *, what: str, dependency: OidcProviderConfig | None
    ) -> dict[str, Any]:
        call = ProviderCall(self._metrics, SERVICE)
        try:
            async with self._http().get(url, headers={"Accept": "application/json"}) as response:
                status = response.status
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            self._unavailable(
                call, dependency, f"{what} request failed: {type(error).__name__}", error
            )
        document = _json_object(raw)
        if status != 200:
            failure = ProviderError(
                SERVICE,
                f"{what} answered HTTP {status}",
                retryable=is_retryable_status(status),
                status=status,
            )
            if failure.retryable:
                self._unavailable(call, dependency, str(failure), None)
            call.record(failure)
            log.error("oidc provider refused", extra={"what": what, "url": url, "status": status})
            raise failure
        if document is None:
            self._unavailable(
                call, dependency, f"{what} answered with something other than JSON", None
            )
        call.record(None)
        return document

    def _token_refused(
        self,
        call: ProviderCall,
        config: OidcProviderConfig,
        status: int,
        answer: dict[str, Any] | None,
    ) -> NoReturn:
        oauth_error = _str_or_none(answer.get("error")) if answer else None
        if is_retryable_status(status):
            self._unavailable(call, config, f"token endpoint answered HTTP {status}", None)
        failure = TokenEndpointError(
            f"token endpoint refused the code: HTTP {status} {oauth_error or 'no error code'}",
            oauth_error=oauth_error,
            retryable=False,
            status=status,
        )
        call.record(failure)
        extra = {"provider": config.name, "status": status, "oauth_error": oauth_error}
        if oauth_error == "invalid_grant":
            # The person's code expired or was used already: they start the sign-in again.
            log.info("oidc code rejected", extra=extra)
        else:
            log.error("oidc token endpoint refused our request", extra=extra)
        raise failure

    def _unavailable(
        self,
        call: ProviderCall,
        config: OidcProviderConfig | None,
        detail: str,
        cause: BaseException | None,
    ) -> NoReturn:
        failure = ProviderError(SERVICE, detail, retryable=True)
        call.record(failure)
        name = config.name if config is not None else SERVICE
        log.warning("oidc provider unavailable", extra={"provider": name, "detail": detail})
        what = f"Sign-in with {config.display_name}" if config is not None else "Sign-in"
        message = f"{what} is temporarily unavailable. Try again in a few minutes."
        raise DependencyUnavailable(name, message) from (cause or failure)

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def _expired(self, fetched_at: float) -> bool:
        return time.monotonic() - fetched_at >= self._cache_seconds


@asynccontextmanager
async def oidc_client(settings: Settings, metrics: Metrics) -> AsyncIterator[OidcClient]:
    """The OIDC client of one process, its HTTP session closed on exit."""
    client = OidcClient(settings, metrics)
    log.info("oidc providers", extra={"providers": sorted(client.providers)})
    try:
        yield client
    finally:
        await client.aclose()


def _load_apple_key(pem: SecretStr) -> ECKey:
    # Env files often carry a PEM on one line with literal "\n".
    text = pem.get_secret_value().replace("\\n", "\n").strip()
    try:
        key = ECKey.import_key(text)
    except (JoseError, ValueError, TypeError):
        raise ValueError("UMBRELLA_APPLE_PRIVATE_KEY is not an EC private key in PEM") from None
    if not key.is_private or key.curve_name != "P-256":
        raise ValueError("UMBRELLA_APPLE_PRIVATE_KEY must be a P-256 (ES256) private key")
    return key


def _unverified_header(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidIdToken("not a compact JWS")
    try:
        padded = parts[0] + "=" * (-len(parts[0]) % 4)
        header = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, binascii.Error):
        raise InvalidIdToken("unreadable header") from None
    if not isinstance(header, dict):
        raise InvalidIdToken("unreadable header")
    return header


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _parse_metadata(document: dict[str, Any], provider: str) -> ProviderMetadata:
    names = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
    values = [document.get(name) for name in names]
    if not all(isinstance(value, str) and value for value in values):
        missing = [n for n, v in zip(names, values, strict=True) if not isinstance(v, str) or not v]
        log.error("oidc discovery document is incomplete", extra={"missing": missing})
        raise ProviderError(
            SERVICE, f"{provider} discovery lacks {', '.join(missing)}", retryable=False
        )
    issuer, authorization, token, jwks = (str(value) for value in values)
    return ProviderMetadata(issuer, authorization, token, jwks)


def _parse_jwks(document: dict[str, Any], url: str) -> dict[str, RSAKey]:
    """The RSA signing keys of a JWKS by kid; other keys are skipped (RFC 7517 §5)."""
    keys: dict[str, RSAKey] = {}
    entries = document.get("keys")
    if not isinstance(entries, list):
        log.warning("jwks without keys", extra={"jwks_url": url})
        return keys
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("alg", ALGORITHM) != ALGORITHM:
            continue
        try:
            keys[kid] = RSAKey.import_key(
                {k: v for k, v in entry.items() if k in {"kty", "n", "e", "kid", "use", "alg"}}
            )
        except (JoseError, ValueError, TypeError):
            log.warning("jwks key skipped", extra={"jwks_url": url, "kid": kid})
    return keys
