"""The token exchange: the callback's code and our PKCE verifier traded for the provider's tokens.

A refusal is never retried: an expired or reused code (`invalid_grant`) is the person's to
start again and is logged as info; anything else is our configuration and logged as an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn

import aiohttp
from authlib.oauth2.rfc6749.parameters import prepare_token_request

from umbrella.integrations.base import ProviderCall, ProviderError, is_retryable_status
from umbrella.integrations.oidc_keys import ProviderMetadata
from umbrella.integrations.oidc_providers import (
    SERVICE,
    OidcProviderConfig,
    ProviderHttp,
    json_object,
    log,
    str_or_none,
)


class TokenEndpointError(ProviderError):
    """The token endpoint refused the code; `oauth_error` is its RFC 6749 code, if any."""

    def __init__(
        self, message: str, *, oauth_error: str | None, retryable: bool, status: int | None
    ) -> None:
        self.oauth_error = oauth_error
        super().__init__(SERVICE, message, retryable=retryable, status=status)


@dataclass(frozen=True)
class TokenResponse:
    """The token endpoint's answer; only `id_token` matters for sign-in."""

    id_token: str = field(repr=False)
    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    token_type: str | None = None
    expires_in: int | None = None
    scope: str | None = None


async def exchange_code(
    *,
    http: ProviderHttp,
    config: OidcProviderConfig,
    metadata: ProviderMetadata,
    client_secret: str | None,
    code: str,
    code_verifier: str,
) -> TokenResponse:
    """Trade the callback's code (and our PKCE verifier) for the provider's tokens."""
    body = prepare_token_request(
        "authorization_code",
        redirect_uri=config.redirect_uri,
        code=code,
        client_id=config.client_id,
        client_secret=client_secret,
        code_verifier=code_verifier,
    )
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    }
    call = ProviderCall(http.metrics, SERVICE)
    try:
        async with http.session().post(
            metadata.token_endpoint, data=body, headers=headers
        ) as response:
            status = response.status
            raw = await response.read()
    except (aiohttp.ClientError, TimeoutError) as error:
        http.unavailable(call, config, f"token request failed: {type(error).__name__}", error)
    answer = json_object(raw)
    if status != 200:
        _token_refused(http, call, config, status, answer)
    id_token = answer.get("id_token") if answer is not None else None
    if answer is None or not isinstance(id_token, str):
        # A 200 that is not a token response: a proxy or the provider having a bad moment.
        http.unavailable(call, config, "token response without an id_token", None)
    call.record(None)
    expires_in = answer.get("expires_in")
    return TokenResponse(
        id_token=id_token,
        access_token=str_or_none(answer.get("access_token")),
        refresh_token=str_or_none(answer.get("refresh_token")),
        token_type=str_or_none(answer.get("token_type")),
        expires_in=expires_in if isinstance(expires_in, int) else None,
        scope=str_or_none(answer.get("scope")),
    )


def _token_refused(
    http: ProviderHttp,
    call: ProviderCall,
    config: OidcProviderConfig,
    status: int,
    answer: dict[str, Any] | None,
) -> NoReturn:
    oauth_error = str_or_none(answer.get("error")) if answer else None
    if is_retryable_status(status):
        http.unavailable(call, config, f"token endpoint answered HTTP {status}", None)
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
