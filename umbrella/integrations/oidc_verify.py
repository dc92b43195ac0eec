"""ID-token checks: signature, issuer, audience, times and nonce, before anyone is signed in.

Only RS256 is accepted, checked before any key is looked up; the key comes from the
provider's JWKS (`oidc_keys.py`). A token we do not accept raises `InvalidIdToken`, whose
`reason` is for the logs only (the client gets a plain 401).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import ClaimError, JoseError

from umbrella.integrations.oidc_keys import ALGORITHM, ProviderDocuments
from umbrella.integrations.oidc_providers import OidcProviderConfig

LEEWAY_SECONDS = 30
# Google's ID tokens may carry the issuer without the scheme.
_ISSUER_ALIASES = {"https://accounts.google.com": ("accounts.google.com",)}


class InvalidIdToken(Exception):
    """The token is not one we accept; `reason` says why (for logs, never for the client)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class IdTokenClaims:
    """Who signed in: `sub` is the stable id at the provider (`oauth_id`)."""

    provider: str
    sub: str
    email: str | None
    email_verified: bool
    name: str | None


async def verify_id_token(
    *, documents: ProviderDocuments, config: OidcProviderConfig, id_token: str, nonce: str
) -> IdTokenClaims:
    """The signed-in person, once signature, issuer, audience, times and nonce check out."""
    metadata = await documents.metadata(config)
    issuers = [metadata.issuer, *_ISSUER_ALIASES.get(metadata.issuer, ())]
    claims = await verify_claims(
        id_token,
        documents=documents,
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
        provider=config.name,
        sub=claims["sub"],
        email=email if isinstance(email, str) and email else None,
        # Apple sends "true"/"false" as strings, Google as booleans.
        email_verified=claims.get("email_verified") in (True, "true"),
        name=name if isinstance(name, str) and name else None,
    )


async def verify_claims(
    token: str,
    *,
    documents: ProviderDocuments,
    jwks_url: str,
    issuers: list[str],
    audience: str,
    dependency: OidcProviderConfig | None,
) -> dict[str, Any]:
    """The claims of an RS256 JWT signed by a key of `jwks_url`, for us, from one of `issuers`."""
    header = _unverified_header(token)
    # Checked before any key is looked up: no `none`, no HS256 keyed with our RSA key.
    if header.get("alg") != ALGORITHM:
        raise InvalidIdToken(f"algorithm {header.get('alg')!r} is not accepted")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidIdToken("the token names no key (kid)")
    key = await documents.signing_key(jwks_url, kid, dependency)
    if key is None:
        raise InvalidIdToken("unknown signing key (kid)")
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
