"""The OIDC client against a local identity provider: the flow, the ID token checks, failures."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from pydantic import SecretStr

from tests.fakes.oidc import APPLE_AUDIENCE, FakeOidcProvider, parse_form_post, s256, use_fake_oidc
from tests.metrics import provider_outcomes
from umbrella.config import Settings
from umbrella.core.errors import DependencyUnavailable, NotFound
from umbrella.integrations.base import ProviderError
from umbrella.integrations.oidc import AuthorizationRequest, OidcClient, oidc_client
from umbrella.integrations.oidc_providers import enabled_providers
from umbrella.integrations.oidc_token import TokenEndpointError
from umbrella.integrations.oidc_verify import InvalidIdToken
from umbrella.observability.metrics import Metrics


@pytest.fixture
def settings_oidc(base_settings: Settings, fake_oidc: FakeOidcProvider) -> Settings:
    return use_fake_oidc(base_settings, fake_oidc)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def oidc(settings_oidc: Settings, metrics: Metrics) -> AsyncIterator[OidcClient]:
    async with oidc_client(settings_oidc, metrics) as client:
        yield client


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def follow(request: AuthorizationRequest) -> dict[str, str]:
    """Play the browser at the provider: the callback's parameters (redirect or form_post)."""
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(request.url, allow_redirects=False) as response,
    ):
        if response.status == 302:
            return query_of(response.headers["Location"])
        assert response.status == 200, await response.text()
        return parse_form_post(await response.text())


# -- configuration ----------------------------------------------------------------------------


def test_providers_are_enabled_by_their_client_ids(
    base_settings: Settings, fake_oidc: FakeOidcProvider
) -> None:
    assert enabled_providers(base_settings) == {}
    both = enabled_providers(use_fake_oidc(base_settings, fake_oidc))
    assert set(both) == {"google", "apple"}
    assert both["google"].redirect_uri == "https://api.umbrella.example/v1/auth/callback/google"
    assert both["apple"].redirect_uri == "https://api.umbrella.example/v1/auth/callback/apple"
    google_only = use_fake_oidc(base_settings, fake_oidc, apple_client_id=None)
    assert set(enabled_providers(google_only)) == {"google"}
    apple_only = use_fake_oidc(base_settings, fake_oidc, google_client_id=None)
    assert set(enabled_providers(apple_only)) == {"apple"}
    # Secrets stay out of reprs (logs, tracebacks).
    assert fake_oidc.google.client_secret not in repr(both)
    assert "PRIVATE KEY" not in repr(both)


async def test_an_unknown_provider_is_not_found(oidc: OidcClient) -> None:
    with pytest.raises(NotFound):
        await oidc.authorization_request("facebook")


# -- authorization request --------------------------------------------------------------------


async def test_google_authorization_url_carries_state_nonce_and_pkce(
    oidc: OidcClient, fake_oidc: FakeOidcProvider
) -> None:
    request = await oidc.authorization_request("google")
    other = await oidc.authorization_request("google")

    assert request.url.startswith(f"{fake_oidc.url}/authorize?")
    params = query_of(request.url)
    assert params == {
        "response_type": "code",
        "client_id": fake_oidc.google.client_id,
        "redirect_uri": "https://api.umbrella.example/v1/auth/callback/google",
        "scope": "openid email profile",
        "state": request.state,
        "nonce": request.nonce,
        "code_challenge": s256(request.code_verifier),
        "code_challenge_method": "S256",
    }
    assert re.fullmatch(r"[A-Za-z0-9\-._~]{43,128}", request.code_verifier)
    assert len(request.state) >= 32
    assert len(request.nonce) >= 32
    assert {other.state, other.nonce, other.code_verifier}.isdisjoint(
        {request.state, request.nonce, request.code_verifier}
    )
    assert request.code_verifier not in repr(request)


async def test_apple_authorization_url_asks_for_form_post(
    oidc: OidcClient, fake_oidc: FakeOidcProvider
) -> None:
    request = await oidc.authorization_request("apple")

    params = query_of(request.url)
    assert params["response_mode"] == "form_post"
    assert params["scope"] == "name email"
    assert params["client_id"] == fake_oidc.apple.client_id
    assert params["redirect_uri"] == "https://api.umbrella.example/v1/auth/callback/apple"
    assert params["code_challenge"] == s256(request.code_verifier)
    assert params["code_challenge_method"] == "S256"
    assert params["state"] == request.state
    assert params["nonce"] == request.nonce


# -- the whole flow ---------------------------------------------------------------------------


async def test_google_sign_in_end_to_end(
    oidc: OidcClient, fake_oidc: FakeOidcProvider, metrics: Metrics
) -> None:
    request = await oidc.authorization_request("google")
    callback = await follow(request)
    assert callback["state"] == request.state

    tokens = await oidc.exchange_code("google", callback["code"], request.code_verifier)
    claims = await oidc.verify_id_token("google", tokens.id_token, nonce=request.nonce)

    assert claims.provider == "google"
    assert claims.sub == "000123.fake-user"
    assert claims.email == "luna.vega@example.com"
    assert claims.email_verified is True
    assert claims.name == "Luna Vega"
    assert tokens.token_type == "Bearer"
    (token_request,) = fake_oidc.received("/token")
    form = {k: v[0] for k, v in token_request.form().items()}
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form["grant_type"] == "authorization_code"
    assert form["client_secret"] == fake_oidc.google.client_secret
    assert form["code_verifier"] == request.code_verifier
    assert form["redirect_uri"] == "https://api.umbrella.example/v1/auth/callback/google"
    assert provider_outcomes(metrics, "oidc")["success"] == 3  # discovery, token, jwks
    assert (
        provider_outcomes(metrics, "oidc")["retryable_error"]
        == provider_outcomes(metrics, "oidc")["permanent_error"]
        == 0
    )


async def test_apple_sign_in_end_to_end_with_a_signed_client_secret(
    oidc: OidcClient, fake_oidc: FakeOidcProvider
) -> None:
    fake_oidc.identity = {
        "sub": "001122.apple-user",
        "email": "abc123@privaterelay.appleid.com",
        "email_verified": True,
        "name": "Nova Reyes",
    }
    request = await oidc.authorization_request("apple")
    callback = await follow(request)
    assert callback["state"] == request.state
    assert json.loads(callback["user"])["name"] == {"firstName": "Nova", "lastName": "Reyes"}

    tokens = await oidc.exchange_code("apple", callback["code"], request.code_verifier)
    claims = await oidc.verify_id_token("apple", tokens.id_token, nonce=request.nonce)

    assert claims.sub == "001122.apple-user"
    assert claims.email == "abc123@privaterelay.appleid.com"
    assert claims.email_verified is True  # Apple says "true", a string
    assert claims.name is None  # Apple never puts the name in the token
    assert tokens.refresh_token

    secret = {k: v[0] for k, v in fake_oidc.received("/token")[0].form().items()}["client_secret"]
    public = ECKey.import_key(fake_oidc.apple.private_key.as_dict(private=False))
    decoded = jwt.decode(secret, public, algorithms=["ES256"])
    assert decoded.header == {"alg": "ES256", "kid": fake_oidc.apple.key_id}
    assert decoded.claims["iss"] == fake_oidc.apple.team_id
    assert decoded.claims["sub"] == fake_oidc.apple.client_id
    assert decoded.claims["aud"] == APPLE_AUDIENCE == "https://appleid.apple.com"
    assert abs(decoded.claims["iat"] - time.time()) < 60
    assert decoded.claims["exp"] - decoded.claims["iat"] == 3600

    # The secret is reused until near its expiry, not signed anew for every sign-in.
    second = await oidc.authorization_request("apple")
    await oidc.exchange_code("apple", (await follow(second))["code"], second.code_verifier)
    reused = {k: v[0] for k, v in fake_oidc.received("/token")[1].form().items()}
    assert reused["client_secret"] == secret


async def test_a_wrong_code_verifier_is_refused_for_good(
    oidc: OidcClient, metrics: Metrics
) -> None:
    request = await oidc.authorization_request("google")
    callback = await follow(request)
    attacker = await oidc.authorization_request("google")

    with pytest.raises(TokenEndpointError) as raised:
        await oidc.exchange_code("google", callback["code"], attacker.code_verifier)

    assert raised.value.oauth_error == "invalid_grant"
    assert not raised.value.retryable
    assert raised.value.provider == "oidc"
    assert provider_outcomes(metrics, "oidc")["permanent_error"] == 1
    # The right verifier still works: the failed attempt did not burn the code.
    await oidc.exchange_code("google", callback["code"], request.code_verifier)


async def test_a_code_works_once(oidc: OidcClient) -> None:
    request = await oidc.authorization_request("google")
    code = (await follow(request))["code"]
    await oidc.exchange_code("google", code, request.code_verifier)

    with pytest.raises(TokenEndpointError) as raised:
        await oidc.exchange_code("google", code, request.code_verifier)
    assert raised.value.oauth_error == "invalid_grant"


async def test_a_wrong_google_secret_is_invalid_client(
    base_settings: Settings, fake_oidc: FakeOidcProvider, metrics: Metrics
) -> None:
    settings = use_fake_oidc(
        base_settings, fake_oidc, google_client_secret=SecretStr("GOCSPX-not-the-secret")
    )
    async with oidc_client(settings, metrics) as oidc:
        request = await oidc.authorization_request("google")
        code = (await follow(request))["code"]
        with pytest.raises(TokenEndpointError) as raised:
            await oidc.exchange_code("google", code, request.code_verifier)
    assert raised.value.oauth_error == "invalid_client"
    assert not raised.value.retryable


async def test_an_apple_secret_signed_with_another_key_is_invalid_client(
    base_settings: Settings, fake_oidc: FakeOidcProvider, metrics: Metrics
) -> None:
    other_key = ECKey.generate_key("P-256").as_pem(private=True).decode()
    settings = use_fake_oidc(base_settings, fake_oidc, apple_private_key=SecretStr(other_key))
    async with oidc_client(settings, metrics) as oidc:
        request = await oidc.authorization_request("apple")
        code = (await follow(request))["code"]
        with pytest.raises(TokenEndpointError) as raised:
            await oidc.exchange_code("apple", code, request.code_verifier)
    assert raised.value.oauth_error == "invalid_client"


def test_an_apple_key_that_is_not_es256_fails_at_start(
    base_settings: Settings, fake_oidc: FakeOidcProvider
) -> None:
    rsa_pem = RSAKey.generate_key(2048).as_pem(private=True).decode()
    settings = use_fake_oidc(base_settings, fake_oidc, apple_private_key=SecretStr(rsa_pem))
    with pytest.raises(ValueError, match="UMBRELLA_APPLE_PRIVATE_KEY") as raised:
        OidcClient(settings, Metrics())
    assert "BEGIN" not in str(raised.value)


# -- ID token checks --------------------------------------------------------------------------


async def test_discovery_and_keys_are_cached(oidc: OidcClient, fake_oidc: FakeOidcProvider) -> None:
    audience = fake_oidc.google.client_id
    for _ in range(3):
        token = fake_oidc.mint(fake_oidc.claims(audience, nonce="n-1"))
        claims = await oidc.verify_id_token("google", token, nonce="n-1")
        assert claims.sub == "000123.fake-user"

    assert fake_oidc.jwks_requests() == 1
    assert len(fake_oidc.received("/.well-known/openid-configuration", "GET")) == 1


async def test_keys_are_fetched_again_when_the_cache_period_is_over(
    base_settings: Settings, fake_oidc: FakeOidcProvider
) -> None:
    settings = use_fake_oidc(base_settings, fake_oidc, oidc_jwks_cache_seconds=0)
    async with oidc_client(settings, Metrics()) as oidc:
        for _ in range(2):
            token = fake_oidc.mint(fake_oidc.claims(fake_oidc.google.client_id, nonce="n"))
            await oidc.verify_id_token("google", token, nonce="n")
    assert fake_oidc.jwks_requests() == 2


async def test_an_expired_token_within_the_leeway_is_accepted(
    oidc: OidcClient, fake_oidc: FakeOidcProvider
) -> None:
    now = int(time.time())
    claims = fake_oidc.claims(fake_oidc.google.client_id, nonce="n", iat=now - 600, exp=now - 20)
    assert (await oidc.verify_id_token("google", fake_oidc.mint(claims), nonce="n")).sub


def _tampered(fake: FakeOidcProvider, audience: str) -> str:
    header, payload, signature = fake.mint(fake.claims(audience, nonce="n")).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["email"] = "attacker@example.com"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def _flipped_signature(fake: FakeOidcProvider, audience: str) -> str:
    header, payload, signature = fake.mint(fake.claims(audience, nonce="n")).split(".")
    flipped = ("A" if signature[10] != "A" else "B").join((signature[:10], signature[11:]))
    return f"{header}.{payload}.{flipped}"


def _at(offset: int) -> int:
    return int(time.time()) + offset


# Each bad token, and the check that must catch it (a fragment of InvalidIdToken.reason).
BAD_TOKENS: dict[str, tuple[Callable[[FakeOidcProvider, str], str], str]] = {
    "wrong audience": (lambda f, aud: f.mint(f.claims("someone-else", nonce="n")), "'aud'"),
    "wrong issuer": (
        lambda f, aud: f.mint(f.claims(aud, nonce="n", iss="https://evil.example")),
        "'iss'",
    ),
    "wrong nonce": (lambda f, aud: f.mint(f.claims(aud, nonce="another-nonce")), "nonce"),
    "no nonce": (lambda f, aud: f.mint(f.claims(aud)), "nonce"),
    "expired beyond the leeway": (
        lambda f, aud: f.mint(f.claims(aud, nonce="n", iat=_at(-600), exp=_at(-40))),
        "'exp'",
    ),
    "issued in the future": (
        lambda f, aud: f.mint(f.claims(aud, nonce="n", iat=_at(120))),
        "'iat'",
    ),
    "no exp": (lambda f, aud: f.mint(f.claims(aud, nonce="n", exp=None)), "'exp'"),
    "no sub": (lambda f, aud: f.mint(f.claims(aud, nonce="n", sub=None)), "'sub'"),
    "alg none": (lambda f, aud: f.mint(f.claims(aud, nonce="n"), alg="none"), "'none'"),
    "HS256 keyed with the RSA public key": (
        lambda f, aud: f.mint(f.claims(aud, nonce="n"), alg="HS256"),
        "'HS256'",
    ),
    "ES256": (lambda f, aud: f.mint(f.claims(aud, nonce="n"), alg="ES256"), "'ES256'"),
    "RS256 by another key under a known kid": (
        lambda f, aud: f.mint(f.claims(aud, nonce="n"), key=RSAKey.generate_key(2048)),
        "signature",
    ),
    "tampered claims": (_tampered, "signature"),
    "tampered signature": (_flipped_signature, "signature"),
    "no kid": (lambda f, aud: f.mint(f.claims(aud, nonce="n"), kid=""), "kid"),
    "not a JWT": (lambda f, aud: "not.a-jwt", "compact"),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
async def test_a_bad_id_token_is_rejected(
    oidc: OidcClient, fake_oidc: FakeOidcProvider, case: str
) -> None:
    build, reason = BAD_TOKENS[case]
    token = build(fake_oidc, fake_oidc.google.client_id)
    with pytest.raises(InvalidIdToken) as raised:
        await oidc.verify_id_token("google", token, nonce="n")
    assert reason in raised.value.reason
    # None of these may make us ask the provider for keys more than the first time.
    assert fake_oidc.jwks_requests() <= 1


async def test_a_token_for_the_other_provider_is_rejected(
    oidc: OidcClient, fake_oidc: FakeOidcProvider
) -> None:
    token = fake_oidc.mint(fake_oidc.claims(fake_oidc.apple.client_id, nonce="n"))
    with pytest.raises(InvalidIdToken):
        await oidc.verify_id_token("google", token, nonce="n")


async def test_an_unknown_kid_refreshes_the_keys_once(
    oidc: OidcClient, fake_oidc: FakeOidcProvider
) -> None:
    audience = fake_oidc.google.client_id
    await oidc.verify_id_token(
        "google", fake_oidc.mint(fake_oidc.claims(audience, nonce="n")), nonce="n"
    )
    assert fake_oidc.jwks_requests() == 1

    stranger = RSAKey.generate_key(2048)
    for kid in ("made-up-1", "made-up-2", "made-up-3"):
        token = fake_oidc.mint(fake_oidc.claims(audience, nonce="n"), kid=kid, key=stranger)
        with pytest.raises(InvalidIdToken, match="unknown signing key"):
            await oidc.verify_id_token("google", token, nonce="n")

    # One refresh for the first unknown kid, then none for 30 s however many arrive.
    assert fake_oidc.jwks_requests() == 2


async def test_a_rotated_key_verifies_after_one_refresh(
    oidc: OidcClient, fake_oidc: FakeOidcProvider
) -> None:
    audience = fake_oidc.google.client_id
    old_token = fake_oidc.mint(fake_oidc.claims(audience, nonce="n"))
    await oidc.verify_id_token("google", old_token, nonce="n")

    fake_oidc.rotate_keys(keep_old=False)
    new_token = fake_oidc.mint(fake_oidc.claims(audience, nonce="n"))
    claims = await oidc.verify_id_token("google", new_token, nonce="n")

    assert claims.sub == "000123.fake-user"
    assert fake_oidc.jwks_requests() == 2
    # The retired key is gone from our cache too.
    with pytest.raises(InvalidIdToken):
        await oidc.verify_id_token("google", old_token, nonce="n")


async def test_a_trusted_proxy_jwt_verifies_against_its_jwks(
    oidc: OidcClient, fake_oidc: FakeOidcProvider
) -> None:
    claims = fake_oidc.claims("proxy-audience-tag", email="luna.vega@example.com")
    verified = await oidc.verify_jwt(
        fake_oidc.mint(claims),
        jwks_url=fake_oidc.jwks_url,
        issuer=fake_oidc.issuer,
        audience="proxy-audience-tag",
    )
    assert verified["email"] == "luna.vega@example.com"

    for token, issuer in [
        (fake_oidc.mint(fake_oidc.claims("other-audience")), fake_oidc.issuer),
        (fake_oidc.mint(claims), "https://other-issuer.example"),
        (fake_oidc.mint(claims, alg="HS256"), fake_oidc.issuer),
    ]:
        with pytest.raises(InvalidIdToken):
            await oidc.verify_jwt(
                token, jwks_url=fake_oidc.jwks_url, issuer=issuer, audience="proxy-audience-tag"
            )
    assert fake_oidc.jwks_requests() == 1


# -- the provider being down ------------------------------------------------------------------


async def test_an_unreachable_provider_is_a_503(
    oidc: OidcClient, fake_oidc: FakeOidcProvider, metrics: Metrics
) -> None:
    await fake_oidc.stop()
    with pytest.raises(DependencyUnavailable) as raised:
        await oidc.authorization_request("google")
    assert raised.value.status == 503
    assert raised.value.dependency == "google"
    assert "Google" in raised.value.message
    assert provider_outcomes(metrics, "oidc")["retryable_error"] == 1


@pytest.mark.parametrize("failure", ["500", "429", "timeout", "malformed"])
async def test_a_failing_provider_is_a_503_at_every_step(
    base_settings: Settings, fake_oidc: FakeOidcProvider, failure: Any
) -> None:
    settings = use_fake_oidc(base_settings, fake_oidc, oidc_timeout_seconds=0.3)
    metrics = Metrics()
    async with oidc_client(settings, metrics) as oidc:
        fake_oidc.fail(failure)  # discovery
        with pytest.raises(DependencyUnavailable):
            await oidc.authorization_request("apple")

        request = await oidc.authorization_request("apple")
        code = (await follow(request))["code"]
        fake_oidc.fail(failure)  # token endpoint
        with pytest.raises(DependencyUnavailable) as raised:
            await oidc.exchange_code("apple", code, request.code_verifier)
        assert raised.value.dependency == "apple"

        fake_oidc.fail(failure)  # first JWKS fetch
        token = fake_oidc.mint(fake_oidc.claims(fake_oidc.apple.client_id, nonce="n"))
        with pytest.raises(DependencyUnavailable):
            await oidc.verify_id_token("apple", token, nonce="n")
        assert (await oidc.verify_id_token("apple", token, nonce="n")).sub

    assert provider_outcomes(metrics, "oidc")["retryable_error"] == 3


async def test_cached_keys_outlive_a_provider_outage(
    base_settings: Settings, fake_oidc: FakeOidcProvider
) -> None:
    settings = use_fake_oidc(base_settings, fake_oidc, oidc_jwks_cache_seconds=0)
    async with oidc_client(settings, Metrics()) as oidc:
        token = fake_oidc.mint(fake_oidc.claims(fake_oidc.google.client_id, nonce="n"))
        await oidc.verify_id_token("google", token, nonce="n")
        await fake_oidc.stop()
        assert (await oidc.verify_id_token("google", token, nonce="n")).sub


async def test_a_wrong_discovery_url_is_a_permanent_error(
    base_settings: Settings, fake_oidc: FakeOidcProvider
) -> None:
    settings = use_fake_oidc(
        base_settings, fake_oidc, google_discovery_url=f"{fake_oidc.url}/no-such-document"
    )
    async with oidc_client(settings, Metrics()) as oidc:
        with pytest.raises(ProviderError) as raised:
            await oidc.authorization_request("google")
    assert raised.value.status == 404
    assert not raised.value.retryable
