"""Tamper-proof tokens for cursors and links: HMAC-SHA256 under a key per purpose.

`UMBRELLA_SECRET_KEY` signs; it and every `UMBRELLA_PREVIOUS_SECRET_KEYS` verify, so a
rotation keeps the links already sent working (an unsubscribe link must never stop working)
until the old key is dropped from the list.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from umbrella.config import Settings


class BadSignature(ValueError):
    """The token was not made by us for this purpose, or was altered."""


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _purpose_key(master: str, purpose: str) -> bytes:
    return hmac.new(master.encode(), f"umbrella:{purpose}".encode(), hashlib.sha256).digest()


class Signer:
    """Signs small JSON payloads; a token signed for one purpose is refused for any other."""

    def __init__(self, settings: Settings, purpose: str) -> None:
        masters = [settings.secret_key, *settings.previous_secret_keys]
        self._keys = [_purpose_key(master.get_secret_value(), purpose) for master in masters]
        self._key = self._keys[0]

    def dumps(self, payload: dict[str, Any]) -> str:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()
        mac = hmac.new(self._key, body, hashlib.sha256).digest()[:16]
        return f"{_b64encode(body)}.{_b64encode(mac)}"

    def loads(self, token: str) -> dict[str, Any]:
        try:
            body_part, mac_part = token.split(".")
            body, mac = _b64decode(body_part), _b64decode(mac_part)
        except ValueError as error:
            raise BadSignature("malformed token") from error
        if not any(
            hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).digest()[:16])
            for key in self._keys
        ):
            raise BadSignature("signature mismatch")
        try:
            payload = json.loads(body)
        except ValueError as error:
            raise BadSignature("malformed payload") from error
        if not isinstance(payload, dict):
            raise BadSignature("malformed payload")
        return payload
