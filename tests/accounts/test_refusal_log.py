"""A refused sign-in callback leaves one log line saying why, and nothing secret.

Without it the api log says only `status=400` (or 303 in redirect mode), and support cannot
tell a person who pressed back after ten minutes from a login-CSRF attempt.
"""

from __future__ import annotations

import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from yarl import URL

from tests.accounts.flows import Callback, callback_for
from umbrella.accounts.tables import OAuthState
from umbrella.observability.logging import JsonFormatter

Client = TestClient[web.Request, web.Application]

LOGGER = "umbrella.accounts.signin"


def refusals(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == LOGGER and record.getMessage() == "sign-in refused"
    ]


def refused_once(caplog: pytest.LogCaptureFixture, *, secrets: list[str]) -> logging.LogRecord:
    """The one refusal logged; its JSON line holds none of `secrets`."""
    found = refusals(caplog)
    assert len(found) == 1, [record.getMessage() for record in caplog.records]
    record = found[0]
    assert record.levelno in (logging.INFO, logging.WARNING)
    line = JsonFormatter("api").format(record)
    for secret in secrets:
        assert secret not in line
    return record


def reason_of(record: logging.LogRecord) -> tuple[str, str]:
    """The provider and the reason the line gives (its `extra` fields)."""
    return record.__dict__["provider"], record.__dict__["reason"]


async def sign_in_secrets(client: Client, callback: Callback) -> list[str]:
    """What must never reach a log: the state, the code and the browser cookie's values."""
    cookie = client.session.cookie_jar.filter_cookies(client.make_url("/v1/auth/"))
    values = [morsel.value for morsel in cookie.values()]
    code = callback.form["code"] if callback.form else URL(callback.path).query["code"]
    return [callback.state, code, *[part for value in values for part in value.split(".")]]


@pytest.fixture(autouse=True)
def _capture(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)


async def test_an_unknown_state_is_logged_with_its_reason(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    callback = await callback_for(client, "google")
    forged = Callback("google", str(URL(callback.path).update_query(state="made-up-state")))
    assert (await forged.send(client)).status == 400
    record = refused_once(caplog, secrets=[*await sign_in_secrets(client, callback), "made-up"])
    assert reason_of(record) == ("google", "unknown_state")


async def test_a_used_state_is_logged_as_unknown(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    callback = await callback_for(client, "google")
    assert (await callback.send(client)).status == 200
    secrets = await sign_in_secrets(client, callback)
    assert (await callback.send(client)).status == 400
    record = refused_once(caplog, secrets=secrets)
    assert reason_of(record) == ("google", "unknown_state")


async def test_an_expired_state_is_logged_as_expired(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    callback = await callback_for(client, "apple")
    await OAuthState.raw(
        "UPDATE oauth_states SET created_at = now() - interval '11 minutes',"
        " expires_at = now() - interval '1 minute'"
    )
    secrets = await sign_in_secrets(client, callback)
    assert (await callback.send(client)).status == 400
    record = refused_once(caplog, secrets=secrets)
    assert reason_of(record) == ("apple", "expired_state")


async def test_a_state_of_another_browser_is_logged_as_such(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    callback = await callback_for(client, "google")
    secrets = await sign_in_secrets(client, callback)
    client.session.cookie_jar.clear()
    assert (await callback.send(client)).status == 400
    record = refused_once(caplog, secrets=secrets)
    assert reason_of(record) == ("google", "other_browser")
    assert record.levelno == logging.WARNING


async def test_a_state_of_the_other_provider_is_logged_as_such(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    callback = await callback_for(client, "google")
    secrets = await sign_in_secrets(client, callback)
    moved = Callback("apple", "/v1/auth/callback/apple", {"state": callback.state, "code": "x"})
    assert (await moved.send(client)).status == 400
    record = refused_once(caplog, secrets=secrets)
    assert reason_of(record) == ("apple", "other_provider")


async def test_a_callback_without_a_state_is_logged(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    response = await client.get(
        "/v1/auth/callback/google?code=code-from-somewhere", allow_redirects=False
    )
    assert response.status == 400
    record = refused_once(caplog, secrets=["code-from-somewhere"])
    assert reason_of(record) == ("google", "missing_state")
