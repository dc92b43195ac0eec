"""A local OpenID provider that plays both Google and Apple for the sign-in flow.

Routes: `/.well-known/openid-configuration`, `/jwks` (RSA keys made at start, each with a
`kid`), `/authorize` (records the request and sends the browser back with `code` and
`state`: a redirect, or Apple's auto-posting form for `response_mode=form_post`) and
`/token` (checks the grant, the redirect URI, the PKCE verifier against the S256
challenge seen at `/authorize`, and the client: Google-like with a client secret,
Apple-like with a client-secret JWT signed ES256 by the key the settings carry). The ID
tokens it issues are signed RS256 and carry the identity the test set and the nonce of
the authorization request.

Tests mint their own tokens with `mint()` (any alg, kid or key) and rotate the signing key
with `rotate_keys()`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey
from pydantic import SecretStr

from tests.fakes.base import FakeServer
from umbrella.config import Settings

APPLE_AUDIENCE = "https://appleid.apple.com"
APPLE_MAX_SECRET_SECONDS = 15_777_000  # Apple: a client secret may live at most 6 months
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class GoogleLikeClient:
    """A client that authenticates with a client secret (post or basic)."""

    client_id: str = "umbrella-test.apps.googleusercontent.example"
    client_secret: str = field(default_factory=lambda: "GOCSPX-" + secrets.token_urlsafe(18))


@dataclass
class AppleLikeClient:
    """A client that authenticates with a JWT it signs with its ES256 key."""

    client_id: str = "com.umbrella.test.signin"
    team_id: str = "TEAM123456"
    key_id: str = "KEY1234567"
    private_key: ECKey = field(default_factory=lambda: ECKey.generate_key("P-256"))

    @property
    def private_key_pem(self) -> str:
        return self.private_key.as_pem(private=True).decode()


@dataclass
class Authorization:
    """What `/authorize` saw, and the identity the code stands for."""

    code: str
    client_id: str
    redirect_uri: str
    state: str
    nonce: str | None
    code_challenge: str
    scope: str
    response_mode: str | None
    identity: dict[str, Any]
    issued_at: float = field(default_factory=time.time)
    used: bool = False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def s256(code_verifier: str) -> str:
    """The PKCE S256 challenge of a verifier (RFC 7636 §4.2)."""
    return _b64(hashlib.sha256(code_verifier.encode()).digest())


def oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


def parse_form_post(page: str) -> dict[str, str]:
    """The fields of the auto-posting form `/authorize` answers with for form_post."""
    pattern = r'<input type="hidden" name="([^"]+)" value="([^"]*)"'
    return {html.unescape(k): html.unescape(v) for k, v in re.findall(pattern, page)}


class FakeOidcProvider(FakeServer):
    """An OpenID provider with one Google-like and one Apple-like client registered."""

    name = "oidc"

    def __init__(self) -> None:
        super().__init__()
        self.google = GoogleLikeClient()
        self.apple = AppleLikeClient()
        self.signing_key = self._new_rsa_key()
        self.published_keys: list[RSAKey] = [self.signing_key]
        self.authorizations: dict[str, Authorization] = {}
        # Who signs in at the next `/authorize` (a test may change it first).
        self.identity: dict[str, Any] = {
            "sub": "000123.fake-user",
            "email": "luna.vega@example.com",
            "email_verified": True,
            "name": "Luna Vega",
        }
        self.id_token_seconds = 600

    # -- what tests use --------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def discovery_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks"

    def jwks_requests(self) -> int:
        return len(self.received("/jwks", "GET"))

    def rotate_keys(self, *, keep_old: bool = True) -> RSAKey:
        """Sign with a new key (new kid) from now on; the old one stays published unless told."""
        self.signing_key = self._new_rsa_key()
        retained = self.published_keys if keep_old else []
        self.published_keys = [*retained, self.signing_key]
        return self.signing_key

    def claims(
        self, audience: str, *, nonce: str | None = None, **overrides: Any
    ) -> dict[str, Any]:
        """Valid ID token claims for `audience`; an override of None drops that claim."""
        now = int(time.time())
        values: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "sub": self.identity["sub"],
            "email": self.identity["email"],
            "email_verified": self.identity["email_verified"],
            "iat": now,
            "exp": now + self.id_token_seconds,
            "auth_time": now,
        }
        if nonce is not None:
            values["nonce"] = nonce
        values.update(overrides)
        return {k: v for k, v in values.items() if v is not None}

    def mint(
        self,
        claims: dict[str, Any],
        *,
        alg: str = "RS256",
        kid: str | None = None,
        key: RSAKey | ECKey | bytes | None = None,
    ) -> str:
        """A compact JWT with these claims, signed as told (also unsigned or HMAC, for attacks).

        Defaults: the current signing key and its kid. `alg="none"` makes an unsigned token;
        `alg="HS256"` HMACs with `key` bytes, by default the provider's RSA public key PEM.
        """
        kid = kid if kid is not None else self.signing_key.kid
        header: dict[str, Any] = {"alg": alg, "typ": "JWT"}
        if kid:
            header["kid"] = kid
        if alg == "none":
            return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."
        if alg.startswith("HS"):
            secret = key if isinstance(key, bytes) else self.signing_key.as_pem(private=False)
            signing_input = (
                f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
            )
            digest = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
            return f"{signing_input}.{_b64(digest)}"
        if key is None:
            key = self.signing_key if alg.startswith("RS") else ECKey.generate_key("P-256")
        assert not isinstance(key, bytes)
        return jwt.encode(header, claims, key, algorithms=[alg])

    # -- routes ----------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/jwks", self._jwks)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/token", self._token)

    async def _discovery(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": self.jwks_url,
                "response_types_supported": ["code"],
                "response_modes_supported": ["query", "form_post"],
                "subject_types_supported": ["public", "pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile", "name"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "code_challenge_methods_supported": ["S256"],
                "claims_supported": ["sub", "email", "email_verified", "name", "nonce"],
            }
        )

    async def _jwks(self, request: web.Request) -> web.Response:
        keys = [key.as_dict(private=False, use="sig", alg="RS256") for key in self.published_keys]
        return web.json_response({"keys": keys})

    async def _authorize(self, request: web.Request) -> web.Response:
        query = request.query
        client_id = query.get("client_id", "")
        if client_id not in {self.google.client_id, self.apple.client_id}:
            return oauth_error("invalid_client", "unknown client_id")
        for name in ("redirect_uri", "state", "code_challenge"):
            if not query.get(name):
                return oauth_error("invalid_request", f"{name} is required")
        if query.get("response_type") != "code":
            return oauth_error("unsupported_response_type", "only code is supported")
        if query.get("code_challenge_method") != "S256":
            return oauth_error("invalid_request", "code_challenge_method must be S256")
        authorization = Authorization(
            code=secrets.token_urlsafe(24),
            client_id=client_id,
            redirect_uri=query["redirect_uri"],
            state=query["state"],
            nonce=query.get("nonce"),
            code_challenge=query["code_challenge"],
            scope=query.get("scope", ""),
            response_mode=query.get("response_mode"),
            identity=dict(self.identity),
        )
        self.authorizations[authorization.code] = authorization
        params = {"code": authorization.code, "state": authorization.state}
        if authorization.response_mode == "form_post":
            if "name" in authorization.scope.split():
                # Apple sends the name once, beside the code, never in the ID token.
                first, _, last = str(self.identity.get("name", "")).partition(" ")
                params["user"] = json.dumps(
                    {
                        "name": {"firstName": first, "lastName": last},
                        "email": self.identity["email"],
                    }
                )
            inputs = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                for k, v in params.items()
            )
            page = (
                '<html><body onload="document.forms[0].submit()">'
                f'<form method="post" action="{html.escape(authorization.redirect_uri)}">'
                f"{inputs}</form></body></html>"
            )
            return web.Response(text=page, content_type="text/html")
        raise web.HTTPFound(f"{authorization.redirect_uri}?{urlencode(params)}")

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        fields = {k: str(v) for k, v in form.items()}
        if fields.get("grant_type") != "authorization_code":
            return oauth_error("unsupported_grant_type", "only authorization_code is supported")
        client_id, problem = self._authenticate(request, fields)
        if problem:
            return oauth_error("invalid_client", problem, status=401)
        authorization = self.authorizations.get(fields.get("code", ""))
        if authorization is None or authorization.used:
            return oauth_error("invalid_grant", "the code is unknown, expired or used")
        if authorization.client_id != client_id:
            return oauth_error("invalid_grant", "the code was issued to another client")
        if time.time() - authorization.issued_at > 600:
            return oauth_error("invalid_grant", "the code expired")
        if fields.get("redirect_uri") != authorization.redirect_uri:
            return oauth_error("invalid_grant", "redirect_uri does not match the authorization")
        verifier = fields.get("code_verifier", "")
        if not verifier or not hmac.compare_digest(s256(verifier), authorization.code_challenge):
            return oauth_error("invalid_grant", "code_verifier does not match the challenge")
        authorization.used = True
        apple = client_id == self.apple.client_id
        identity = authorization.identity
        claims = self.claims(client_id, nonce=authorization.nonce, sub=identity["sub"])
        claims["email"] = identity["email"]
        if apple:
            # Apple's real shape: booleans as strings, no name in the token.
            claims["email_verified"] = "true" if identity["email_verified"] else "false"
            claims["is_private_email"] = "false"
        else:
            claims["email_verified"] = identity["email_verified"]
            if identity.get("name"):
                claims["name"] = identity["name"]
        answer: dict[str, Any] = {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": 3600,
            "id_token": self.mint(claims),
        }
        if apple:
            answer["refresh_token"] = secrets.token_urlsafe(32)
        else:
            answer["scope"] = authorization.scope
        return web.json_response(answer, headers={"Cache-Control": "no-store"})

    # -- client authentication -------------------------------------------------------------

    def _authenticate(self, request: web.Request, fields: dict[str, str]) -> tuple[str, str]:
        """(client id, problem): an empty problem means the client proved who it is."""
        client_id = fields.get("client_id", "")
        secret = fields.get("client_secret")
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            decoded = base64.b64decode(basic.removeprefix("Basic ")).decode()
            client_id, _, secret = decoded.partition(":")
        if client_id == self.google.client_id:
            if secret is None or not hmac.compare_digest(secret, self.google.client_secret):
                return client_id, "bad client secret"
            return client_id, ""
        if client_id == self.apple.client_id:
            if fields.get("client_assertion_type") == JWT_BEARER:
                secret = fields.get("client_assertion")
            return client_id, self._apple_secret_problem(secret or "")
        return client_id, "unknown client"

    def _apple_secret_problem(self, token: str) -> str:
        """What Apple would object to in this client secret JWT ('' when it is good)."""
        public = ECKey.import_key(self.apple.private_key.as_dict(private=False))
        try:
            decoded = jwt.decode(token, public, algorithms=["ES256"])
        except (JoseError, ValueError) as error:
            return f"client secret signature: {error}"
        header, claims = decoded.header, decoded.claims
        now = int(time.time())
        if header.get("kid") != self.apple.key_id:
            return "client secret kid is not the key id"
        checks = {
            "iss": claims.get("iss") == self.apple.team_id,
            "sub": claims.get("sub") == self.apple.client_id,
            "aud": claims.get("aud") == APPLE_AUDIENCE,
            "iat": isinstance(claims.get("iat"), int) and claims["iat"] <= now + 60,
            "exp": isinstance(claims.get("exp"), int)
            and now < claims["exp"] <= int(claims.get("iat", 0)) + APPLE_MAX_SECRET_SECONDS,
        }
        wrong = [name for name, ok in checks.items() if not ok]
        return f"client secret claims wrong: {', '.join(wrong)}" if wrong else ""

    @staticmethod
    def _new_rsa_key() -> RSAKey:
        return RSAKey.generate_key(2048, parameters={"kid": f"fake-{secrets.token_hex(6)}"})


def use_fake_oidc(settings: Settings, fake: FakeOidcProvider, **update: Any) -> Settings:
    """`settings` with Google and Apple sign-in pointed at the fake (a frozen copy)."""
    values: dict[str, Any] = {
        "google_client_id": fake.google.client_id,
        "google_client_secret": SecretStr(fake.google.client_secret),
        "google_discovery_url": fake.discovery_url,
        "apple_client_id": fake.apple.client_id,
        "apple_team_id": fake.apple.team_id,
        "apple_key_id": fake.apple.key_id,
        "apple_private_key": SecretStr(fake.apple.private_key_pem),
        "apple_discovery_url": fake.discovery_url,
        "oidc_timeout_seconds": 2.0,
    }
    values.update(update)
    return settings.model_copy(update=values)


def google_only(settings: Settings, fake: FakeOidcProvider) -> Settings:
    """`settings` with Google sign-in at the fake and Apple not configured."""
    return settings.model_copy(
        update={
            "google_client_id": fake.google.client_id,
            "google_discovery_url": fake.discovery_url,
        }
    )


@pytest.fixture
async def fake_oidc() -> AsyncIterator[FakeOidcProvider]:
    """A started fake identity provider, stopped after the test."""
    async with FakeOidcProvider() as fake:
        yield fake


@pytest.fixture
def oidc_settings(settings: Settings, fake_oidc: FakeOidcProvider) -> Settings:
    """This test's settings with Google and Apple sign-in at the fake provider."""
    return use_fake_oidc(settings, fake_oidc)
