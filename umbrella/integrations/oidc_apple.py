"""Apple's client secret: an ES256 JWT we sign with the team's key, reused until near its expiry.

Apple has no static client secret: each token request carries a JWT signed with a P-256
key from the Apple developer account (`UMBRELLA_APPLE_PRIVATE_KEY`), checked at start.
"""

from __future__ import annotations

import time

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from pydantic import SecretStr

from umbrella.integrations.oidc_providers import AppleSigningKey

APPLE_AUDIENCE = "https://appleid.apple.com"
# Apple allows up to 6 months; an hour limits the damage of a leaked secret.
APPLE_SECRET_LIFETIME_SECONDS = 3600
APPLE_SECRET_RENEW_SECONDS = 300


class AppleClientSecret:
    """The client secret for Apple's token endpoint; the key is loaded (and checked) at once."""

    def __init__(self, signing_key: AppleSigningKey) -> None:
        self._signing_key = signing_key
        self._key = _load_apple_key(signing_key.private_key)
        self._secret: tuple[str, int] | None = None

    def value(self, client_id: str) -> str:
        """Apple's client secret: an ES256 JWT we sign ourselves, reused until near its expiry."""
        now = int(time.time())
        if self._secret is not None and self._secret[1] - now > APPLE_SECRET_RENEW_SECONDS:
            return self._secret[0]
        apple = self._signing_key
        expires = now + APPLE_SECRET_LIFETIME_SECONDS
        secret = jwt.encode(
            {"alg": "ES256", "kid": apple.key_id},
            {
                "iss": apple.team_id,
                "iat": now,
                "exp": expires,
                "aud": APPLE_AUDIENCE,
                "sub": client_id,
            },
            self._key,
            algorithms=["ES256"],
            default_type=None,
        )
        self._secret = (secret, expires)
        return secret


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
