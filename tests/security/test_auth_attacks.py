"""Attacks on authentication, over real HTTP: forged sessions, forged proxy JWTs, CSRF on
cookie-authenticated writes and open redirects out of the sign-in flow.

Every refused request must get the error envelope, never data, and change nothing. The
cases of one kind run in one test (a test costs a fresh database and app); each case is
named in the assertion message, so a failure says which attack got through.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote
from uuid import UUID

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey
from multidict import CIMultiDict
from redis.asyncio import Redis
from yarl import URL

from tests.accounts.conftest import client_for
from tests.accounts.flows import Callback, authorize, counts
from tests.conftest import Servers, create_database, drop_database, make_settings, start_client
from tests.factories import make_user
from tests.fakes.oidc import FakeOidcProvider
from umbrella import keys
from umbrella.accounts import views as accounts_views
from umbrella.accounts.service import cache_key, hash_token
from umbrella.accounts.tables import Session, User
from umbrella.app import create_app
from umbrella.config import Settings

Client = TestClient[web.Request, web.Application]

SPA = "https://app.umbrella.test"
EVIL = "https://evil.example"
SIGNED_IN_PAGE = f"{SPA}/signed-in"
COOKIE = "umbrella_session"
PROXY_AUDIENCE = "umbrella-behind-access"
PROXY_HEADER = "Cf-Access-Jwt-Assertion"


# -- helpers -----------------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"{COOKIE}={token}"}


SENDERS: list[tuple[str, Callable[[str], dict[str, str]]]] = [
    ("bearer", bearer),
    ("cookie", cookie),
]


async def refused(
    response: aiohttp.ClientResponse,
    status: int = 401,
    code: str = "UNAUTHORIZED",
    *,
    case: str = "",
) -> dict[str, Any]:
    """The error of a refused request: the envelope, the status and code, and no data."""
    text = await response.text()
    assert response.status == status, f"{case}: {response.status} {text}"
    body = json.loads(text)
    assert body["success"] is False, case
    assert "data" not in body, case
    assert body["error"]["code"] == code, case
    assert body["meta"]["request_id"], case
    error: dict[str, Any] = body["error"]
    return error


async def open_session(client: Client, email: str) -> tuple[UUID, str]:
    """A user and a live session token, opened the way sign-in opens one (jar stays empty)."""
    user_id = await make_user(email=email)
    new = await client.app[accounts_views.SESSION_STORE].create(user_id=user_id)
    return user_id, new.token


async def signed_in(client: Client, headers: dict[str, str]) -> bool:
    response = await client.get("/v1/auth/session", headers=headers)
    assert response.status in (200, 401), await response.text()
    return response.status == 200


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header: dict[str, Any], claims: dict[str, Any], signature: str = "") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{signature}"


@pytest.fixture
def spa_settings(settings: Settings) -> Settings:
    """The API of a deployment whose web app lives at `SPA`."""
    return settings.model_copy(update={"cors_origins": [SPA]})


@pytest.fixture
async def api(spa_settings: Settings) -> AsyncIterator[Client]:
    client = await start_client(create_app(spa_settings))
    yield client
    await client.close()


# -- 1. session tokens ------------------------------------------------------------------------


def _flip(token: str, index: int) -> str:
    """The token with the character at `index` replaced by another url-safe one."""
    replacement = "A" if token[index] != "A" else "B"
    return token[:index] + replacement + token[index + 1 :]


TAMPERINGS: list[tuple[str, Callable[[str], str]]] = [
    ("first-char", lambda t: _flip(t, 0)),
    ("middle-char", lambda t: _flip(t, len(t) // 2)),
    ("last-char", lambda t: _flip(t, -1)),
    ("case-swapped", lambda t: t.swapcase()),
    ("truncated", lambda t: t[:-1]),
    ("extended", lambda t: t + "A"),
    ("padded", lambda t: t + "="),
    ("stored-hash-as-token", hash_token),  # what a leaked database or Redis dump holds
]


async def test_a_tampered_token_is_refused(api: Client) -> None:
    _, token = await open_session(api, "tamper@example.com")
    for (how, tamper), (via, send) in [(t, s) for t in TAMPERINGS for s in SENDERS]:
        forged = tamper(token)
        assert forged != token, how
        case = f"{how} via {via}"
        await refused(await api.get("/v1/auth/session", headers=send(forged)), case=case)
        logout = await api.post("/v1/auth/logout", headers={**send(forged), "Origin": SPA})
        await refused(logout, case=case)
    assert await signed_in(api, bearer(token))  # the real session is untouched


async def test_a_random_or_junk_token_is_refused(api: Client) -> None:
    await open_session(api, "someone@example.com")
    junk = [secrets.token_urlsafe(32), "x" * 4096, "' OR 1=1 --", "../../session", "*"]
    for forged in junk:
        for via, send in SENDERS:
            response = await api.get("/v1/auth/session", headers=send(forged))
            await refused(response, case=f"{forged[:20]} via {via}")


async def test_a_token_of_another_deployment_is_refused(
    spa_settings: Settings, servers: Servers, template_database: str
) -> None:
    """Another deployment (its own database and Redis) opens a real session; ours refuses it.

    One deployment runs at a time: Piccolo's engine is one per process.
    """
    name = await create_database(servers, template=template_database)
    other_redis_url = str(URL(servers.redis_url).with_path("/1"))
    other_settings = make_settings(
        servers, database_url=servers.database_url(name), redis_url=other_redis_url
    )
    try:
        other = await start_client(create_app(other_settings))
        try:
            _, foreign = await open_session(other, "elsewhere@example.com")
            assert await signed_in(other, bearer(foreign))
        finally:
            await other.close()
    finally:
        flush = Redis.from_url(other_redis_url)
        await flush.flushdb()
        await flush.aclose()
        await drop_database(servers, name)

    ours = await start_client(create_app(spa_settings))
    try:
        await make_user(email="elsewhere@example.com")  # even the same person here
        for via, send in SENDERS:
            response = await ours.get("/v1/auth/session", headers=send(foreign))
            await refused(response, case=via)
    finally:
        await ours.close()


async def test_an_expired_session_is_refused_even_from_a_stale_cache(
    api: Client, redis_client: Redis
) -> None:
    for via, send in SENDERS:
        user_id, token = await open_session(api, f"expired-{via}@example.com")
        past = datetime.now(UTC) - timedelta(seconds=1)
        await Session.update(
            {Session.expires_at: past, Session.created_at: past - timedelta(days=7)}
        ).where(Session.token_hash == hash_token(token))
        # The Redis copy outlives the session (clock skew, a missed eviction): still refused.
        stale = {"u": str(user_id), "r": "artist", "e": past.timestamp()}
        await redis_client.set(cache_key(hash_token(token)), json.dumps(stale), ex=3600)
        error = await refused(await api.get("/v1/auth/session", headers=send(token)), case=via)
        assert "expired" in error["message"]
        await redis_client.delete(cache_key(hash_token(token)))
        await refused(await api.get("/v1/auth/session", headers=send(token)), case=via)


async def test_a_signed_out_session_is_refused(api: Client) -> None:
    for via, send in SENDERS:
        _, token = await open_session(api, f"signout-{via}@example.com")
        out = await api.delete("/v1/auth/session", headers={**send(token), "Origin": SPA})
        assert out.status == 200, await out.text()
        await refused(await api.get("/v1/auth/session", headers=send(token)), case=via)
        again = await api.post("/v1/auth/logout", headers={**send(token), "Origin": SPA})
        await refused(again, case=via)


async def test_sessions_signed_out_everywhere_are_all_refused(api: Client) -> None:
    user_id, first = await open_session(api, "everywhere@example.com")
    second = (await api.app[accounts_views.SESSION_STORE].create(user_id=user_id)).token
    out = await api.post("/v1/auth/logout", headers=bearer(first))
    assert (await out.json())["data"] == {"revoked": 2}
    for token in (first, second):
        for via, send in SENDERS:
            await refused(await api.get("/v1/auth/session", headers=send(token)), case=via)


MALFORMED: list[tuple[str, Callable[[str], dict[str, str]]]] = [
    ("no-scheme", lambda t: {"Authorization": t}),
    ("token-scheme", lambda t: {"Authorization": f"Token {t}"}),
    (
        "basic-scheme",
        lambda t: {"Authorization": "Basic " + base64.b64encode(f"{t}:".encode()).decode()},
    ),
    ("no-space", lambda t: {"Authorization": f"Bearer{t}"}),
    ("bearer-without-token", lambda t: {"Authorization": "Bearer"}),
    ("bearer-blank", lambda t: {"Authorization": "Bearer    "}),
    ("token-twice", lambda t: {"Authorization": f"Bearer {t} {t}"}),
    ("trailing-comma", lambda t: {"Authorization": f"Bearer {t},"}),
    ("quoted", lambda t: {"Authorization": f'Bearer "{t}"'}),
    ("token-parameter", lambda t: {"Authorization": f"Bearer token={t}"}),
    ("cookie-name-case", lambda t: {"Cookie": f"{COOKIE.upper()}={t}"}),
    ("cookie-empty", lambda t: {"Cookie": f"{COOKIE}="}),
    ("cookie-name-prefixed", lambda t: {"Cookie": f"x{COOKIE}={t}"}),
    # A broken bearer is not rescued by a good cookie: the explicit credential decides.
    (
        "bad-bearer-good-cookie",
        lambda t: {"Authorization": f"Bearer {t[:-1]}", "Cookie": f"{COOKIE}={t}"},
    ),
]


async def test_a_malformed_credential_is_refused(api: Client) -> None:
    _, token = await open_session(api, "malformed@example.com")
    for how, headers_for in MALFORMED:
        response = await api.get("/v1/auth/session", headers=headers_for(token))
        await refused(response, case=how)
    assert await signed_in(api, bearer(token))
    # RFC 7235: the scheme is case-insensitive, so this one is simply valid.
    assert await signed_in(api, {"Authorization": f"bEaReR {token}"})


async def test_two_authorization_headers_use_the_first_and_never_mix(api: Client) -> None:
    _, token = await open_session(api, "twice@example.com")
    headers = CIMultiDict(
        [("Authorization", "Bearer forged"), ("Authorization", f"Bearer {token}")]
    )
    await refused(await api.get("/v1/auth/session", headers=headers))


# -- 2. trusted-proxy JWTs (tests/accounts/test_proxy_signin.py covers another audience or
# issuer, long expired, alg none, garbage, no or unverified email) ----------------------------


@pytest.fixture
async def proxy_api(spa_settings: Settings, fake_oidc: FakeOidcProvider) -> AsyncIterator[Client]:
    """Trusted-proxy sign-in on; the fake provider plays the proxy and signs its JWTs."""
    client = await start_client(
        create_app(
            spa_settings.model_copy(
                update={
                    "auth_proxy_jwks_url": fake_oidc.jwks_url,
                    "auth_proxy_issuer": fake_oidc.issuer,
                    "auth_proxy_audience": PROXY_AUDIENCE,
                    "auth_rate_limit_per_minute": 1000,
                }
            )
        )
    )
    yield client
    await client.close()


def proxy_claims(fake: FakeOidcProvider, **overrides: Any) -> dict[str, Any]:
    return fake.claims(PROXY_AUDIENCE, **{"email": "nova@example.com", **overrides})


def _rsa_public_jwk_json(fake: FakeOidcProvider) -> bytes:
    return json.dumps(fake.signing_key.as_dict(private=False)).encode()


def _embedded_jwk(fake: FakeOidcProvider) -> str:
    attacker = RSAKey.generate_key(2048)
    header = {"alg": "RS256", "kid": fake.signing_key.kid, "jwk": attacker.as_dict(private=False)}
    return jwt.encode(header, proxy_claims(fake), attacker, algorithms=["RS256"])


def _stripped(fake: FakeOidcProvider) -> str:
    head, payload, _ = fake.mint(proxy_claims(fake)).split(".")
    return f"{head}.{payload}."


def _payload_swapped(fake: FakeOidcProvider) -> str:
    head, _, signature = fake.mint(proxy_claims(fake)).split(".")
    forged = b64(json.dumps(proxy_claims(fake, email="admin@umbrella.test")).encode())
    return f"{head}.{forged}.{signature}"


def _now() -> int:
    return int(time.time())


Forge = Callable[[FakeOidcProvider], str]
FORGED_PROXY_TOKENS: list[tuple[str, Forge]] = [
    # algorithm confusion: the public key (as the proxy publishes it) used as an HMAC secret
    ("hs256-rsa-public-pem", lambda f: f.mint(proxy_claims(f), alg="HS256")),
    (
        "hs256-rsa-public-jwk",
        lambda f: f.mint(proxy_claims(f), alg="HS256", key=_rsa_public_jwk_json(f)),
    ),
    (
        "hs256-ec-public-pem",
        lambda f: f.mint(
            proxy_claims(f), alg="HS256", key=ECKey.generate_key("P-256").as_pem(private=False)
        ),
    ),
    ("es256-foreign-key", lambda f: f.mint(proxy_claims(f), alg="ES256")),
    (
        "alg-NONE-uppercase",
        lambda f: compact({"alg": "NONE", "kid": f.signing_key.kid}, proxy_claims(f)),
    ),
    (
        "alg-none-with-signature",
        lambda f: compact({"alg": "none"}, proxy_claims(f), signature="c2lnbmF0dXJl"),
    ),
    ("no-alg", lambda f: compact({"kid": f.signing_key.kid}, proxy_claims(f))),
    ("signature-stripped", _stripped),
    ("payload-swapped", _payload_swapped),
    # keys
    ("unknown-kid", lambda f: f.mint(proxy_claims(f), kid="not-published")),
    ("no-kid", lambda f: f.mint(proxy_claims(f), kid="")),
    ("attacker-key-real-kid", lambda f: f.mint(proxy_claims(f), key=RSAKey.generate_key(2048))),
    ("attacker-key-embedded-jwk", _embedded_jwk),
    # times (the leeway is 30 seconds)
    ("not-yet-valid", lambda f: f.mint(proxy_claims(f, nbf=_now() + 3600))),
    ("issued-in-future", lambda f: f.mint(proxy_claims(f, iat=_now() + 3600))),
    (
        "expired-two-minutes-ago",
        lambda f: f.mint(proxy_claims(f, iat=_now() - 700, exp=_now() - 120)),
    ),
    ("no-exp", lambda f: f.mint(proxy_claims(f, exp=None))),
    ("exp-as-string", lambda f: f.mint(proxy_claims(f, exp=str(_now() + 600)))),
    # issuer and audience
    ("no-iss", lambda f: f.mint(proxy_claims(f, iss=None))),
    ("iss-trailing-slash", lambda f: f.mint(proxy_claims(f, iss=f.issuer + "/"))),
    ("iss-as-list", lambda f: f.mint(proxy_claims(f, iss=[f.issuer]))),
    ("no-aud", lambda f: f.mint(proxy_claims(f, aud=None))),
    ("aud-other-case", lambda f: f.mint(proxy_claims(f, aud=PROXY_AUDIENCE.upper()))),
    (
        "aud-shared-without-azp",
        lambda f: f.mint(proxy_claims(f, aud=[PROXY_AUDIENCE, "someone-else"])),
    ),
    ("no-sub", lambda f: f.mint(proxy_claims(f, sub=None))),
    # shapes
    ("five-part-jwe-shape", lambda f: f.mint(proxy_claims(f)) + ".e30"),
    ("whitespace-inside", lambda f: f.mint(proxy_claims(f)).replace(".", ". ", 1)),
]


async def test_a_forged_proxy_jwt_is_refused_and_writes_nothing(
    proxy_api: Client, fake_oidc: FakeOidcProvider
) -> None:
    for how, forge in FORGED_PROXY_TOKENS:
        response = await proxy_api.post(
            "/v1/auth/callback", headers={PROXY_HEADER: forge(fake_oidc)}
        )
        error = await refused(response, case=how)
        assert error["field"] == PROXY_HEADER, how
        assert COOKIE not in response.cookies, how
    assert await counts() == (0, 0)
    # The control: the same claims, properly signed, do sign in.
    genuine = await proxy_api.post(
        "/v1/auth/callback", headers={PROXY_HEADER: fake_oidc.mint(proxy_claims(fake_oidc))}
    )
    assert genuine.status == 200, await genuine.text()
    assert await counts() == (1, 1)


# -- 3. CSRF on cookie-authenticated writes ---------------------------------------------------

FOREIGN_ORIGINS: list[tuple[str, dict[str, str]]] = [
    ("no-origin-no-referer", {}),
    ("evil-origin", {"Origin": EVIL}),
    ("null-origin", {"Origin": "null"}),
    ("empty-origin", {"Origin": ""}),
    ("origin-plain-http", {"Origin": "http://app.umbrella.test"}),
    ("origin-other-port", {"Origin": "https://app.umbrella.test:8443"}),
    ("origin-suffixed", {"Origin": "https://app.umbrella.test.evil.example"}),
    ("origin-sibling", {"Origin": "https://evilapp.umbrella.test"}),
    ("origin-userinfo", {"Origin": "https://app.umbrella.test@evil.example"}),
    ("origin-with-path", {"Origin": f"{EVIL}/{SPA}"}),
    ("origin-list", {"Origin": f"{SPA} {EVIL}"}),
    ("evil-referer", {"Referer": f"{EVIL}/page"}),
    ("referer-spa-in-query", {"Referer": f"{EVIL}/?from={SPA}"}),
    ("referer-suffixed", {"Referer": "https://app.umbrella.test.evil.example/"}),
    ("referer-relative", {"Referer": "/settings"}),
    # Origin decides when present: a good Referer does not rescue a foreign Origin.
    ("evil-origin-spa-referer", {"Origin": EVIL, "Referer": f"{SPA}/settings"}),
]

# (method, path, json body): writes a forged page would love to make with the cookie.
COOKIE_WRITES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/v1/auth/logout", None),
    ("DELETE", "/v1/auth/session", None),
    ("PUT", "/v1/settings", {"notify_email": False}),
    ("DELETE", "/v1/settings/account", {"confirm": "DELETE"}),
]


async def _state(api: Client, token: str) -> tuple[bool, bool]:
    """(still signed in, still wants email): what the forged writes try to change."""
    response = await api.get("/v1/settings", headers=bearer(token))
    if response.status == 401:
        return False, False
    wants_email: bool = (await response.json())["data"]["notify_email"]
    return True, wants_email


async def _assert_forbidden(
    api: Client, method: str, path: str, body: dict[str, Any] | None, origin: dict[str, str]
) -> None:
    user_id, token = await open_session(api, f"victim-{secrets.token_hex(4)}@example.com")
    response = await api.request(method, path, json=body, headers={**cookie(token), **origin})
    case = f"{method} {path} with {origin or 'no origin'}"
    error = await refused(response, 403, "FORBIDDEN", case=case)
    assert error["field"] == "Origin", case
    assert "Set-Cookie" not in response.headers, case
    assert "Access-Control-Allow-Origin" not in response.headers, case
    assert await _state(api, token) == (True, True), case
    assert await User.exists().where(User.id == user_id), case


async def test_a_cookie_write_from_a_foreign_page_is_forbidden(api: Client) -> None:
    for _, origin in FOREIGN_ORIGINS:
        await _assert_forbidden(api, "PUT", "/v1/settings", {"notify_email": False}, origin)


async def test_every_kind_of_cookie_write_is_checked(api: Client) -> None:
    for method, path, body in COOKIE_WRITES:
        for origin in ({}, {"Origin": EVIL}):
            await _assert_forbidden(api, method, path, body, origin)


async def test_a_cookie_write_from_the_web_app_goes_through(api: Client) -> None:
    for number, origin in enumerate(
        ({"Origin": SPA}, {"Referer": f"{SPA}/settings?tab=notifications"})
    ):
        _, token = await open_session(api, f"spa-{number}@example.com")
        response = await api.put(
            "/v1/settings", json={"notify_email": False}, headers={**cookie(token), **origin}
        )
        assert response.status == 200, await response.text()
        assert response.headers.get("Access-Control-Allow-Origin") == origin.get("Origin")
        assert await _state(api, token) == (True, False)
        out = await api.delete("/v1/auth/session", headers={**cookie(token), **origin})
        assert out.status == 200, await out.text()
        assert await _state(api, token) == (False, False)


async def test_the_apis_own_origin_counts_as_the_web_app(settings: Settings) -> None:
    """A web app served from the API's own host (no CORS at all) may write with the cookie."""
    client = await start_client(
        create_app(settings.model_copy(update={"public_base_url": "https://umbrella.test"}))
    )
    try:
        _, token = await open_session(client, "same-origin@example.com")
        headers = {**cookie(token), "Origin": "https://umbrella.test"}
        response = await client.put("/v1/settings", json={"notify_email": False}, headers=headers)
        assert response.status == 200, await response.text()
        foreign = {**cookie(token), "Origin": SPA}  # not configured on this deployment
        await refused(await client.post("/v1/auth/logout", headers=foreign), 403, "FORBIDDEN")
    finally:
        await client.close()


async def test_bearer_writes_and_cookie_reads_are_not_subject_to_the_origin_check(
    api: Client,
) -> None:
    _, token = await open_session(api, "bearer@example.com")
    read = await api.get("/v1/settings", headers={**cookie(token), "Origin": EVIL})
    assert read.status == 200
    write = await api.put(
        "/v1/settings", json={"notify_email": False}, headers={**bearer(token), "Origin": EVIL}
    )
    assert write.status == 200, await write.text()
    # With both, the bearer token is what authenticates, so no ambient credential is used.
    both = await api.post("/v1/auth/logout", headers={**bearer(token), **cookie(token)})
    assert both.status == 200


async def test_a_public_write_ignores_a_cookie_sent_from_a_foreign_page(
    proxy_api: Client, fake_oidc: FakeOidcProvider
) -> None:
    """Public routes (callbacks, webhooks) still work cross-site, but never as the cookie's
    user: the request goes on as an anonymous one."""
    victim_id, victim_token = await open_session(proxy_api, "victim@example.com")
    response = await proxy_api.post(
        "/v1/auth/callback",
        headers={
            PROXY_HEADER: fake_oidc.mint(proxy_claims(fake_oidc)),
            **cookie(victim_token),
            "Origin": EVIL,
        },
    )
    assert response.status == 200, await response.text()
    user = (await response.json())["data"]["session"]["user"]
    assert (user["id"], user["email"]) != (str(victim_id), "victim@example.com")
    assert await signed_in(proxy_api, bearer(victim_token))


# -- 4. open redirects out of the sign-in flow ------------------------------------------------

EVIL_TARGETS = [
    "https://evil.example",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https:evil.example",
    "javascript:alert(document.domain)",
    "data:text/html,<script>alert(1)</script>",
    "%2F%2Fevil.example",
    "https%3A%2F%2Fevil.example",
    "/%5Cevil.example",
    "/%09/evil.example",
    " //evil.example",
    f"{SPA}@evil.example",
    f"{SPA}.evil.example",
]
# Names sign-in flows use for "where to go afterwards"; ours take none of them.
RETURN_PARAMETERS = ("next", "return_to", "returnTo", "redirect", "redirect_uri", "continue")


@pytest.fixture
async def redirecting_api(oidc_settings: Settings) -> AsyncIterator[Client]:
    client = await client_for(
        oidc_settings.model_copy(
            update={
                "cors_origins": [SPA],
                "auth_redirect_url": SIGNED_IN_PAGE,
                "auth_rate_limit_per_minute": 1000,
            }
        )
    )
    yield client
    await client.close()


def assert_lands_in_the_web_app(response: aiohttp.ClientResponse, case: str) -> URL:
    assert response.status == 303, case
    location = URL(response.headers["Location"])
    assert location.origin() == URL(SPA), case
    assert location.with_query(None) == URL(SIGNED_IN_PAGE), case
    assert "evil" not in unquote(unquote(str(location))).lower(), case
    return location


async def test_sign_in_never_redirects_off_the_web_app(
    redirecting_api: Client, fake_oidc: FakeOidcProvider
) -> None:
    public_base_url = redirecting_api.app[keys.SETTINGS].public_base_url
    for target in EVIL_TARGETS:
        steer = dict.fromkeys(RETURN_PARAMETERS, target)
        for provider in ("google", "apple"):
            case = f"{provider} with {target!r}"
            login = await redirecting_api.get(
                f"/v1/auth/login/{provider}",
                params=steer,
                headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
                allow_redirects=False,
            )
            assert login.status == 302, f"{case}: {await login.text()}"
            to_provider = URL(login.headers["Location"])
            # The provider's own page, told to come back to the configured API URL only.
            assert to_provider.origin() == URL(fake_oidc.url).origin(), case
            callback_url = f"{public_base_url}/v1/auth/callback/{provider}"
            assert to_provider.query["redirect_uri"] == callback_url, case
            assert "evil" not in unquote(str(to_provider)).lower(), case

            callback = await authorize(str(to_provider), provider)
            form = None if callback.form is None else {**callback.form, **steer}
            steered = Callback(provider, str(URL(callback.path).update_query(steer)), form)
            assert_lands_in_the_web_app(await steered.send(redirecting_api), case)

        failed = await redirecting_api.get(
            "/v1/auth/callback/google",
            params={"state": "nope", "code": "x", **steer},
            allow_redirects=False,
        )
        location = assert_lands_in_the_web_app(failed, f"failed callback with {target!r}")
        assert location.query["error"] == "VALIDATION_ERROR"
