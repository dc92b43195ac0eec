"""The identity providers sign-in is configured for, and the one HTTP session that talks to them.

Every request to a provider is timed and counted as a provider call (`ProviderCall`). A
provider that is down, slow or throttling us becomes `DependencyUnavailable` (503, named
after the provider); one that refuses for good becomes a `ProviderError` (never retryable).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, NoReturn

import aiohttp
from pydantic import SecretStr

from umbrella.config import Settings
from umbrella.core.errors import DependencyUnavailable
from umbrella.integrations.base import ProviderCall, ProviderError, is_retryable_status
from umbrella.observability.metrics import Metrics

# Every OIDC module logs under one name: operators and alerts filter on it.
log = logging.getLogger("umbrella.integrations.oidc")

SERVICE = "oidc"
_DISPLAY_NAMES = {"google": "Google", "apple": "Apple"}


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


class ProviderHttp:
    """One HTTP session to the providers, opened on first use; each request a provider call."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.metrics = metrics
        self._timeout = aiohttp.ClientTimeout(total=settings.oidc_timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The session, opened on first use."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def get_json(
        self, url: str, *, what: str, dependency: OidcProviderConfig | None
    ) -> dict[str, Any]:
        """A JSON document (discovery, JWKS); `what` names it in errors and logs."""
        call = ProviderCall(self.metrics, SERVICE)
        try:
            async with self.session().get(url, headers={"Accept": "application/json"}) as response:
                status = response.status
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError) as error:
            self.unavailable(
                call, dependency, f"{what} request failed: {type(error).__name__}", error
            )
        document = json_object(raw)
        if status != 200:
            failure = ProviderError(
                SERVICE,
                f"{what} answered HTTP {status}",
                retryable=is_retryable_status(status),
                status=status,
            )
            if failure.retryable:
                self.unavailable(call, dependency, str(failure), None)
            call.record(failure)
            log.error("oidc provider refused", extra={"what": what, "url": url, "status": status})
            raise failure
        if document is None:
            self.unavailable(
                call, dependency, f"{what} answered with something other than JSON", None
            )
        call.record(None)
        return document

    def unavailable(
        self,
        call: ProviderCall,
        config: OidcProviderConfig | None,
        detail: str,
        cause: BaseException | None,
    ) -> NoReturn:
        """Record the call as failed and raise the 503 that names the provider."""
        failure = ProviderError(SERVICE, detail, retryable=True)
        call.record(failure)
        name = config.name if config is not None else SERVICE
        log.warning("oidc provider unavailable", extra={"provider": name, "detail": detail})
        what = f"Sign-in with {config.display_name}" if config is not None else "Sign-in"
        message = f"{what} is temporarily unavailable. Try again in a few minutes."
        raise DependencyUnavailable(name, message) from (cause or failure)

    async def aclose(self) -> None:
        """Close the session (a later request opens a new one)."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def json_object(raw: bytes) -> dict[str, Any] | None:
    """The body as a JSON object; None for anything else."""
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def str_or_none(value: object) -> str | None:
    """The value if it is a string (a provider's optional field)."""
    return value if isinstance(value, str) else None
