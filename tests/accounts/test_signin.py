"""Sign-in with Google and Apple (D-001) as a browser lives it, against the fake provider."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from yarl import URL

from tests.accounts.conftest import client_for
from tests.accounts.flows import (
    Callback,
    authorize,
    callback_for,
    counts,
    sign_in,
    start,
    states,
)
from tests.factories import make_artist
from tests.fakes.oidc import FakeOidcProvider, google_only
from umbrella import keys
from umbrella.accounts.cron import sessions_cleanup
from umbrella.accounts.tables import OAuthState, User
from umbrella.config import Settings
from umbrella.core.cron import CronContext

Client = TestClient[web.Request, web.Application]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def error_of(response: Any) -> dict[str, Any]:
    body = await response.json()
    assert body["success"] is False
    error: dict[str, Any] = body["error"]
    return error


# -- the happy paths ---------------------------------------------------------------------------


async def test_google_round_trip_creates_the_user_once_and_signs_in_again(
    client: Client, fake_oidc: FakeOidcProvider
) -> None:
    fake_oidc.identity["email"] = "Luna.Vega@Example.com"
    authorization_url = await start(client, "google")
    query = URL(authorization_url).query
    assert query["code_challenge_method"] == "S256"
    assert all(query.get(name) for name in ("state", "nonce", "code_challenge"))
    # the state is kept only as a hash
    assert await OAuthState.count() == 1
    assert not await OAuthState.exists().where(OAuthState.state_hash == query["state"])

    callback = await authorize(authorization_url, "google")
    first = await callback.send(client)
    assert first.status == 200, await first.text()
    data = (await first.json())["data"]
    user = data["session"]["user"]
    assert user["email"] == "luna.vega@example.com"
    assert user["display_name"] == "Luna Vega"
    # no role until the person chooses one
    assert user["role"] is None
    assert data["session"]["onboarding_complete"] is False
    assert data["session"]["next_step"] == "role"
    cookie = first.cookies[client.app[keys.SETTINGS].session_cookie_name]
    assert cookie.value == data["token"]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert await states() == 0  # used up

    session = await client.get("/v1/auth/session", headers=bearer(data["token"]))
    assert (await session.json())["data"]["user"]["id"] == user["id"]

    again = await sign_in(client, "google")
    assert again.status == 200
    assert (await again.json())["data"]["session"]["user"]["id"] == user["id"]
    assert await counts() == (1, 2)
    row = await User.select().where(User.id == user["id"]).first()
    assert row is not None
    assert (row["oauth_provider"], row["oauth_id"]) == ("google", "000123.fake-user")


async def test_apple_form_post_round_trip_takes_the_name_from_the_user_field(
    client: Client, fake_oidc: FakeOidcProvider
) -> None:
    fake_oidc.identity.update(sub="001234.apple-user", name="Mira Solis", email="mira@example.com")
    callback = await callback_for(client, "apple")
    assert callback.form is not None
    assert json.loads(callback.form["user"])["name"] == {"firstName": "Mira", "lastName": "Solis"}

    response = await callback.send(client)
    assert response.status == 200, await response.text()
    user = (await response.json())["data"]["session"]["user"]
    assert (user["display_name"], user["email"]) == ("Mira Solis", "mira@example.com")
    row = await User.select(User.oauth_provider, User.oauth_id).first()
    assert row == {"oauth_provider": "apple", "oauth_id": "001234.apple-user"}


async def test_login_binds_the_attempt_to_the_browser_with_a_short_cookie(
    client: Client,
) -> None:
    response = await client.get("/v1/auth/login/google", allow_redirects=False)
    cookie = response.cookies["umbrella_session_signin"]
    assert cookie["httponly"]
    assert cookie["path"] == "/v1/auth"
    assert cookie["max-age"] == "600"
    # each login mints its own value; the attempts still in flight keep theirs
    again = await client.get("/v1/auth/login/apple", allow_redirects=False)
    values = again.cookies["umbrella_session_signin"].value.split(".")
    assert len(values) == 2
    assert values[1] == cookie.value != values[0]


async def test_two_tabs_signing_in_at_once_both_finish(
    client: Client, fake_oidc: FakeOidcProvider
) -> None:
    first = await callback_for(client, "google")
    second = await callback_for(client, "google")
    for callback in (first, second):
        response = await callback.send(client)
        assert response.status == 200, await response.text()
    assert await counts() == (1, 2)


async def test_a_binding_cookie_planted_in_a_browser_cannot_finish_someone_else_s_sign_in(
    client: Client, fake_oidc: FakeOidcProvider
) -> None:
    """Login CSRF: a sibling site plants a cookie value it chose in the victim's browser."""
    planted = {"Cookie": f"umbrella_session_signin={'P' * 43}"}
    # The attacker starts a sign-in as themselves, presenting the planted value...
    login = await client.get("/v1/auth/login/google", allow_redirects=False, headers=planted)
    assert login.status == 302
    minted = login.cookies["umbrella_session_signin"].value
    assert "P" * 43 not in minted.split(".")  # ...which the server does not adopt,
    callback = await authorize(login.headers["Location"], "google")
    # ...and lures the victim, whose browser holds only the planted value, to the callback.
    client.session.cookie_jar.clear()
    response = await callback.send(client, headers=planted)
    assert response.status == 400
    error = await error_of(response)
    assert error["field"] == "state"
    assert "another browser" in error["message"]
    assert await counts() == (0, 0)


async def test_over_https_the_browser_cookie_also_travels_with_apples_form_post(
    oidc_settings: Settings,
) -> None:
    # Apple's callback is a cross-site POST: only a SameSite=None (hence Secure) cookie goes
    secure = await client_for(oidc_settings.model_copy(update={"session_cookie_secure": True}))
    try:
        login = await secure.get("/v1/auth/login/apple", allow_redirects=False)
        header = next(
            value
            for value in login.headers.getall("Set-Cookie")
            if value.startswith("__Host-umbrella_session_signin=")
        )
        # __Host-: no sibling subdomain can set or replace it (no Domain, Path=/, Secure).
        attributes = {part.strip() for part in header.split(";")}
        assert {"SameSite=None", "Secure", "HttpOnly", "Path=/"} <= attributes
        assert not any(part.lower().startswith("domain") for part in attributes)
    finally:
        await secure.close()


async def test_over_https_only_the_host_only_cookie_binds_a_sign_in(
    oidc_settings: Settings, fake_oidc: FakeOidcProvider
) -> None:
    secure = await client_for(oidc_settings.model_copy(update={"session_cookie_secure": True}))
    try:
        login = await secure.get("/v1/auth/login/google", allow_redirects=False)
        value = login.cookies["__Host-umbrella_session_signin"].value
        callback = await authorize(login.headers["Location"], "google")
        # The same value under the plain name (what a sibling subdomain can set) is not read.
        secure.session.cookie_jar.clear()
        refused = await callback.send(
            secure, headers={"Cookie": f"umbrella_session_signin={value}"}
        )
        assert refused.status == 400
        assert (await error_of(refused))["field"] == "state"

        login = await secure.get("/v1/auth/login/google", allow_redirects=False)
        value = login.cookies["__Host-umbrella_session_signin"].value
        callback = await authorize(login.headers["Location"], "google")
        secure.session.cookie_jar.clear()
        done = await callback.send(
            secure, headers={"Cookie": f"__Host-umbrella_session_signin={value}"}
        )
        assert done.status == 200, await done.text()
    finally:
        await secure.close()


async def test_an_operator_made_account_is_linked_at_its_first_sign_in(
    client: Client, fake_oidc: FakeOidcProvider
) -> None:
    now = datetime.now(UTC)
    await User.insert(
        User(
            email="venue@example.com",
            role="venue",
            role_chosen_at=now,
            onboarding_complete=True,
            created_at=now,
            updated_at=now,
        )
    )
    fake_oidc.identity.update(email="venue@example.com", sub="venue-sub")
    response = await sign_in(client, "google")
    assert response.status == 200, await response.text()
    user = (await response.json())["data"]["session"]["user"]
    assert user["role"] == "venue"
    assert await counts() == (1, 1)
    row = await User.select(User.oauth_provider, User.oauth_id).first()
    assert row == {"oauth_provider": "google", "oauth_id": "venue-sub"}


# -- D-006: coming back to an unfinished onboarding starts it over -------------------------------


async def test_sign_in_sends_an_unfinished_onboarding_back_to_step_1(client: Client) -> None:
    first = await sign_in(client, "google")
    data = (await first.json())["data"]
    user_id = data["session"]["user"]["id"]
    # the user got through step 3 of the artist onboarding, then left
    await make_artist(user_id=user_id, stage_name="Luna")
    await User.update({User.onboarding_step: 3}).where(User.id == user_id)
    during = await client.get("/v1/auth/session", headers=bearer(data["token"]))
    assert (await during.json())["data"]["next_step"] == "step4"

    back = await sign_in(client, "google")
    session = (await back.json())["data"]["session"]
    assert session["user"]["onboarding_step"] == 0
    assert session["next_step"] == "step1"
    row = await User.select(User.onboarding_step).where(User.id == user_id).first()
    assert row == {"onboarding_step": 0}
    # the old device sees the reset too
    old = await client.get("/v1/auth/session", headers=bearer(data["token"]))
    assert (await old.json())["data"]["next_step"] == "step1"


async def test_sign_in_leaves_a_finished_onboarding_alone(client: Client) -> None:
    first = await sign_in(client, "google")
    user_id = (await first.json())["data"]["session"]["user"]["id"]
    await User.update({User.onboarding_complete: True, User.onboarding_step: 5}).where(
        User.id == user_id
    )
    back = await sign_in(client, "google")
    session = (await back.json())["data"]["session"]
    assert (session["onboarding_complete"], session["next_step"]) == (True, None)
    assert session["user"]["onboarding_step"] == 5


# -- a bad callback writes nothing ---------------------------------------------------------------


async def test_a_replayed_state_is_refused(client: Client) -> None:
    callback = await callback_for(client, "google")
    assert (await callback.send(client)).status == 200
    replay = await callback.send(client)
    assert replay.status == 400
    assert (await error_of(replay))["field"] == "state"
    assert await counts() == (1, 1)


async def test_an_unknown_state_is_refused(client: Client) -> None:
    callback = await callback_for(client, "google")
    forged = Callback("google", str(URL(callback.path).update_query(state="made-up-state")))
    response = await forged.send(client)
    assert response.status == 400
    error = await error_of(response)
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "state")
    assert await counts() == (0, 0)


async def test_an_expired_state_is_refused(client: Client) -> None:
    callback = await callback_for(client, "google")
    await OAuthState.raw(
        "UPDATE oauth_states SET created_at = now() - interval '11 minutes',"
        " expires_at = now() - interval '1 minute'"
    )
    response = await callback.send(client)
    assert response.status == 400
    assert (await error_of(response))["field"] == "state"
    assert await counts() == (0, 0)
    assert await states() == 0


@pytest.mark.parametrize("cookie", [None, "A" * 43])
async def test_a_callback_without_the_browser_that_started_it_is_refused(
    client: Client, cookie: str | None
) -> None:
    # login CSRF: someone else's callback link opened in this browser
    callback = await callback_for(client, "google")
    client.session.cookie_jar.clear()
    headers = {"Cookie": f"umbrella_session_signin={cookie}"} if cookie else {}
    response = await callback.send(client, headers=headers)
    assert response.status == 400
    error = await error_of(response)
    assert error["field"] == "state"
    assert "another browser" in error["message"]
    assert await counts() == (0, 0)


async def test_a_state_from_one_provider_does_not_finish_another(client: Client) -> None:
    callback = await callback_for(client, "google")
    moved = Callback("apple", "/v1/auth/callback/apple", {"state": callback.state, "code": "x"})
    response = await moved.send(client)
    assert response.status == 400
    assert (await error_of(response))["field"] == "state"
    assert await counts() == (0, 0)


async def test_a_missing_code_is_refused(client: Client) -> None:
    callback = await callback_for(client, "google")
    without_code = Callback("google", f"/v1/auth/callback/google?state={callback.state}")
    response = await without_code.send(client)
    assert response.status == 400
    assert (await error_of(response))["field"] == "code"
    assert await counts() == (0, 0)
    assert await states() == 0


async def test_a_pkce_verifier_that_does_not_match_is_refused(client: Client) -> None:
    callback = await callback_for(client, "google")
    await OAuthState.update({OAuthState.code_verifier: "x" * 64}).where(
        OAuthState.state_hash.is_not_null()
    )
    response = await callback.send(client)
    assert response.status == 400
    assert (await error_of(response))["field"] == "code"
    assert await counts() == (0, 0)


async def test_a_cancelled_sign_in_says_so(client: Client) -> None:
    callback = await callback_for(client, "google")
    cancelled = Callback(
        "google", f"/v1/auth/callback/google?state={callback.state}&error=access_denied"
    )
    response = await cancelled.send(client)
    assert response.status == 400
    error = await error_of(response)
    assert error["field"] == "error"
    assert error["message"] == "You cancelled signing in with Google. Start again."
    assert await counts() == (0, 0)
    assert await states() == 0


async def test_an_id_token_for_another_audience_is_refused(
    client: Client, fake_oidc: FakeOidcProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    callback = await callback_for(client, "google")
    honest: Callable[..., dict[str, Any]] = fake_oidc.claims
    # the provider answers with a token minted for some other application
    monkeypatch.setattr(
        fake_oidc, "claims", lambda audience, **kw: honest("someone-else.example", **kw)
    )
    response = await callback.send(client)
    assert response.status == 401
    error = await error_of(response)
    assert (error["code"], error["field"]) == ("UNAUTHORIZED", "id_token")
    assert await counts() == (0, 0)


async def test_an_email_of_an_account_with_the_other_provider_is_a_conflict(
    client: Client, fake_oidc: FakeOidcProvider
) -> None:
    assert (await sign_in(client, "google")).status == 200
    # the same person tries Apple, whose identity is another one with the same email
    fake_oidc.identity["sub"] = "001999.apple-user"
    response = await sign_in(client, "apple")
    assert response.status == 409
    error = await error_of(response)
    assert (error["code"], error["field"]) == ("CONFLICT", "email")
    assert "Sign in with Google" in error["message"]
    assert await counts() == (1, 1)


async def test_an_unverified_email_neither_claims_nor_blocks_an_address(
    client: Client, fake_oidc: FakeOidcProvider
) -> None:
    assert (await sign_in(client, "google")).status == 200
    fake_oidc.identity.update(sub="001999.apple-user", email_verified=False)
    response = await sign_in(client, "apple")
    assert response.status == 200
    assert (await response.json())["data"]["session"]["user"]["email"] is None
    assert await counts() == (2, 2)


async def test_an_unknown_or_unconfigured_provider_is_not_found(
    settings: Settings, fake_oidc: FakeOidcProvider
) -> None:
    client = await client_for(google_only(settings, fake_oidc))
    try:
        for path in ("/v1/auth/login/apple", "/v1/auth/login/github"):
            response = await client.get(path, allow_redirects=False)
            assert response.status == 404
            assert (await error_of(response))["field"] == "provider"
        callback = await client.post("/v1/auth/callback/apple", data={"state": "s", "code": "c"})
        assert callback.status == 404
        assert (await error_of(callback))["field"] == "provider"
        assert await states() == 0
    finally:
        await client.close()


async def test_a_provider_that_is_down_is_a_503(
    client: Client, fake_oidc: FakeOidcProvider
) -> None:
    callback = await callback_for(client, "google")
    fake_oidc.fail("500", times=3)
    response = await callback.send(client)
    assert response.status == 503
    assert (await error_of(response))["code"] == "SERVICE_UNAVAILABLE"
    assert await counts() == (0, 0)


async def test_a_provider_down_at_login_is_a_503(
    client: Client, fake_oidc: FakeOidcProvider
) -> None:
    fake_oidc.fail("500", times=10)  # no discovery document: none is cached yet
    response = await client.get("/v1/auth/login/google", allow_redirects=False)
    assert response.status == 503
    assert (await error_of(response))["code"] == "SERVICE_UNAVAILABLE"
    assert await states() == 0


# -- housekeeping --------------------------------------------------------------------------------


async def test_the_nightly_cleanup_forgets_expired_sign_in_attempts(client: Client) -> None:
    await start(client, "google")
    await start(client, "apple")
    await OAuthState.raw(
        "UPDATE oauth_states SET created_at = now() - interval '1 hour',"
        " expires_at = now() - interval '50 minutes'"
        " WHERE provider = 'apple'"
    )
    summary = await sessions_cleanup(CronContext(settings=client.app[keys.SETTINGS], redis=None))
    assert summary == "deleted 0 old sessions and 1 expired sign-in states"
    remaining = await OAuthState.select(OAuthState.provider)
    assert remaining == [{"provider": "google"}]


async def test_state_rows_expire_after_ten_minutes(client: Client) -> None:
    await start(client, "google")
    row = await OAuthState.select(OAuthState.created_at, OAuthState.expires_at).first()
    assert row is not None
    assert row["expires_at"] - row["created_at"] == timedelta(minutes=10)
