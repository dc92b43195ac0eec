"""The providers' discovery documents and signing keys (JWKS), cached per URL.

Both are fetched once per cache period and kept when a refresh fails (the provider having a
bad moment must not stop sign-in). A token naming a key we have not seen refreshes the JWKS
at once, the provider may have rotated: at most once per `FORCED_REFRESH_INTERVAL_SECONDS`
and URL, so a flood of made-up `kid`s cannot make us hammer the provider.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from umbrella.core.errors import DependencyUnavailable
from umbrella.integrations.base import ProviderError
from umbrella.integrations.oidc_providers import SERVICE, OidcProviderConfig, ProviderHttp, log

# The only signature we accept: Google and Apple sign ID tokens with RS256.
ALGORITHM = "RS256"
# At most one refresh forced by an unknown `kid` per JWKS URL in this many seconds.
FORCED_REFRESH_INTERVAL_SECONDS = 30.0


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of a discovery document we use."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str


@dataclass
class _Jwks:
    keys: dict[str, RSAKey]
    fetched_at: float
    forced_at: float = float("-inf")


@dataclass
class _Discovery:
    metadata: ProviderMetadata
    fetched_at: float


class ProviderDocuments:
    """The discovery documents and JWKS of the providers, each fetched once per cache period."""

    def __init__(
        self, http: ProviderHttp, *, cache_seconds: float, forced_refresh_interval_seconds: float
    ) -> None:
        self._http = http
        self._cache_seconds = cache_seconds
        self._forced_refresh_interval = forced_refresh_interval_seconds
        self._discovery: dict[str, _Discovery] = {}
        self._jwks: dict[str, _Jwks] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def metadata(self, config: OidcProviderConfig) -> ProviderMetadata:
        """The provider's discovery document, fetched once per cache period."""
        provider = config.name
        url = config.discovery_url
        cached = self._discovery.get(url)
        if cached is not None and not self._expired(cached.fetched_at):
            return cached.metadata
        async with self._lock(url):
            cached = self._discovery.get(url)
            if cached is not None and not self._expired(cached.fetched_at):
                return cached.metadata
            try:
                document = await self._http.get_json(url, what="discovery", dependency=config)
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

    async def signing_key(
        self, jwks_url: str, kid: str, dependency: OidcProviderConfig | None
    ) -> RSAKey | None:
        """The key of that id in the JWKS; None if even a fresh copy does not have it."""
        jwks = self._jwks.get(jwks_url)
        if jwks is None or self._expired(jwks.fetched_at):
            jwks = await self._refresh_jwks(jwks_url, dependency, forced=False)
        key = jwks.keys.get(kid)
        if key is not None:
            return key
        # A key we have not seen: the provider may have rotated. Refresh once, rate-limited.
        jwks = await self._refresh_jwks(jwks_url, dependency, forced=True)
        return jwks.keys.get(kid)

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
                document = await self._http.get_json(url, what="jwks", dependency=dependency)
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

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def _expired(self, fetched_at: float) -> bool:
        return time.monotonic() - fetched_at >= self._cache_seconds


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
