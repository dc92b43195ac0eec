"""Tamper-proof tokens for cursors and links: HMAC-SHA256 under a key per purpose."""

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


class Signer:
    """Signs small JSON payloads; a token signed for one purpose is refused for any other."""

    def __init__(self, settings: Settings, purpose: str) -> None:
        master = settings.secret_key.get_secret_value().encode()
        self._key = hmac.new(master, f"umbrella:{purpose}".encode(), hashlib.sha256).digest()

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
        expected = hmac.new(self._key, body, hashlib.sha256).digest()[:16]
        if not hmac.compare_digest(mac, expected):
            raise BadSignature("signature mismatch")
        try:
            payload = json.loads(body)
        except ValueError as error:
            raise BadSignature("malformed payload") from error
        if not isinstance(payload, dict):
            raise BadSignature("malformed payload")
        return payload
