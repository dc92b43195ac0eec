"""Unsubscribe links of fan broadcasts: one signed token per delivery (RFC 8058 one-click).

The token names the delivery, not the address, so a link in a forwarded email or a
proxy log reveals nothing about the fan; the delivery row says which artist, channel and
address to suppress. The link is `{public_base_url}/v1/fans/unsubscribe?token=…`: `token`
is a secret query parameter, kept off traced URLs (web/middlewares.py).
"""

from __future__ import annotations

from uuid import UUID

from umbrella.config import Settings
from umbrella.core.errors import NotFound
from umbrella.core.signing import BadSignature, Signer

UNSUBSCRIBE_PATH = "/v1/fans/unsubscribe"
_PURPOSE = "fans:unsubscribe"


def unsubscribe_token(settings: Settings, *, delivery_id: UUID) -> str:
    """The signed token of one delivery's unsubscribe link."""
    return Signer(settings, _PURPOSE).dumps({"d": str(delivery_id)})


def unsubscribe_url(settings: Settings, *, delivery_id: UUID) -> str:
    """The one-click unsubscribe link (and `List-Unsubscribe` target) of one delivery."""
    token = unsubscribe_token(settings, delivery_id=delivery_id)
    return f"{settings.public_base_url.rstrip('/')}{UNSUBSCRIBE_PATH}?token={token}"


def delivery_of(settings: Settings, token: str) -> UUID:
    """The delivery an unsubscribe token was made for; 404 `token` for a forged or bad one."""
    try:
        payload = Signer(settings, _PURPOSE).loads(token)
        return UUID(str(payload["d"]))
    except (BadSignature, KeyError, ValueError):
        raise NotFound("This unsubscribe link is not valid.", field="token") from None
