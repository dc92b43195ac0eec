"""Settings: parsed once, validated, and every one documented for operators."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REPO_ROOT
from umbrella.config import ENV_PREFIX, Settings, SettingsError, load_settings, redact_url

REQUIRED = {
    "database_url": "postgresql://u:p@127.0.0.1:5432/db",
    "redis_url": "redis://127.0.0.1:6379/0",
    "s3_endpoint": "http://127.0.0.1:9000",
    "s3_access_key": "key",
    "s3_secret_key": "secret",
    "secret_key": "0123456789abcdef0123456789abcdef",
    "resend_api_key": "re_test",
    "twilio_account_sid": "AC" + "0" * 32,
    "twilio_auth_token": "token",
    "sms_from_transactional": "+15005550006",
}


def test_readme_documents_every_setting() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `(UMBRELLA_[A-Z0-9_]+)` \|", readme, flags=re.MULTILINE))
    fields = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert fields <= documented, f"undocumented settings: {sorted(fields - documented)}"


def test_defaults_are_safe_for_production() -> None:
    settings = load_settings(**REQUIRED)
    assert settings.env.value == "production"
    assert settings.dev_login_enabled is False
    assert settings.session_cookie_secure is True
    assert settings.cors_origins == []


def test_cors_origins_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "UMBRELLA_CORS_ORIGINS", "https://app.umbrella.fm, https://staging.umbrella.fm/"
    )
    settings = load_settings(**REQUIRED)
    assert settings.cors_origins == ["https://app.umbrella.fm", "https://staging.umbrella.fm"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"port": "eighty"}, "setting UMBRELLA_PORT is invalid"),
        ({"redis_url": "http://redis"}, "setting UMBRELLA_REDIS_URL is invalid"),
        ({"log_level": "LOUD"}, "setting UMBRELLA_LOG_LEVEL is invalid"),
        ({"env": "staging"}, "setting UMBRELLA_ENV is invalid"),
    ],
)
def test_invalid_settings_are_named(override: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(**(REQUIRED | override))


def test_secrets_never_print() -> None:
    settings = load_settings(**(REQUIRED | {"s3_secret_key": "hunter2-s3", "s3_access_key": "k"}))
    assert "hunter2-s3" not in repr(settings)
    assert "hunter2-s3" not in str(settings.model_dump())
    assert redact_url(settings.database_url) == "postgresql://u:***@127.0.0.1:5432/db"
