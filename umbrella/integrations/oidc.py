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

This module is the client the routes hold; beside it: `oidc_providers.py` the configured
providers and the HTTP session, `oidc_keys.py` the discovery and JWKS cache,
`oidc_token.py` the token exchange, `oidc_verify.py` the ID-token checks and
`oidc_apple.py` Apple's client secret.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from umbrella.config import Settings
from umbrella.core.errors import NotFound
from umbrella.integrations import oidc_token, oidc_verify
from umbrella.integrations.oidc_apple import AppleClientSecret
from umbrella.integrations.oidc_keys import (
    FORCED_REFRESH_INTERVAL_SECONDS,
    ProviderDocuments,
    ProviderMetadata,
)
from umbrella.integrations.oidc_providers import OidcProviderConfig, ProviderHttp, enabled_providers
from umbrella.integrations.oidc_token import TokenResponse
from umbrella.integrations.oidc_verify import IdTokenClaims
from umbrella.observability.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the browser, and what the callback must find again (keep it server-side)."""

    provider: str
    url: str
    state: str
    nonce: str = field(repr=False)
    code_verifier: str = field(repr=False)


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
        self._http = ProviderHttp(settings, metrics)
        self._documents = ProviderDocuments(
            self._http,
            cache_seconds=settings.oidc_jwks_cache_seconds,
            forced_refresh_interval_seconds=forced_refresh_interval_seconds,
        )
        self._apple_secret: AppleClientSecret | None = None
        apple = self.providers.get("apple")
        if apple is not None and apple.apple_key is not None:
            self._apple_secret = AppleClientSecret(apple.apple_key)

    def provider(self, name: str) -> OidcProviderConfig:
        """The enabled provider of that name; `NotFound` for any other."""
        config = self.providers.get(name)
        if config is None:
            raise NotFound("No such sign-in provider.")
        return config

    async def metadata(self, provider: str) -> ProviderMetadata:
        """The provider's discovery document, fetched once per cache period."""
        return await self._documents.metadata(self.provider(provider))

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
        return await oidc_token.exchange_code(
            http=self._http,
            config=config,
            metadata=metadata,
            client_secret=self._client_secret(config),
            code=code,
            code_verifier=code_verifier,
        )

    async def verify_id_token(self, provider: str, id_token: str, *, nonce: str) -> IdTokenClaims:
        """The signed-in person, once signature, issuer, audience, times and nonce check out."""
        return await oidc_verify.verify_id_token(
            documents=self._documents,
            config=self.provider(provider),
            id_token=id_token,
            nonce=nonce,
        )

    async def verify_jwt(
        self, token: str, *, jwks_url: str, issuer: str, audience: str
    ) -> dict[str, Any]:
        """The claims of an RS256 JWT from a trusted proxy (e.g. `Cf-Access-Jwt-Assertion`)."""
        return await oidc_verify.verify_claims(
            token,
            documents=self._documents,
            jwks_url=jwks_url,
            issuers=[issuer],
            audience=audience,
            dependency=None,
        )

    async def aclose(self) -> None:
        """Close the HTTP session."""
        await self._http.aclose()

    def _client_secret(self, config: OidcProviderConfig) -> str | None:
        if config.apple_key is not None:
            assert self._apple_secret is not None  # made in __init__ for the apple provider
            return self._apple_secret.value(config.client_id)
        return config.client_secret.get_secret_value() if config.client_secret else None


@asynccontextmanager
async def oidc_client(settings: Settings, metrics: Metrics) -> AsyncIterator[OidcClient]:
    """The OIDC client of one process, its HTTP session closed on exit."""
    client = OidcClient(settings, metrics)
    log.info("oidc providers", extra={"providers": sorted(client.providers)})
    try:
        yield client
    finally:
        await client.aclose()
