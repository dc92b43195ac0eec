"""The chart's side of the database: the migration hook's bounds and the PgBouncer option."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.deploy.chart import HelmError, Render, render
from umbrella.config import ENV_PREFIX, load_settings

FULLNAME = "umbrella"
MIGRATE_BOUNDS = {
    "UMBRELLA_MIGRATE_STATEMENT_TIMEOUT_MS",
    "UMBRELLA_MIGRATE_LOCK_TIMEOUT_MS",
    "UMBRELLA_MIGRATE_LOCK_WAIT_SECONDS",
}
# What a Secret of the operator's holds, for settings that must load.
CREDENTIALS = {
    "UMBRELLA_DATABASE_URL": "postgresql://umbrella:pw@db.internal:5432/umbrella",
    "UMBRELLA_REDIS_URL": "redis://redis:6379/0",
    "UMBRELLA_S3_ENDPOINT": "https://s3.example.com",
    "UMBRELLA_S3_ACCESS_KEY": "a",
    "UMBRELLA_S3_SECRET_KEY": "s3-secret",
    "UMBRELLA_SECRET_KEY": "k" * 48,
    "UMBRELLA_EMAIL_BACKEND": "console",
    "UMBRELLA_SMS_BACKEND": "console",
}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """A container's `env`: literal values as text, references as their valueFrom."""
    return {
        variable["name"]: variable.get("value", variable.get("valueFrom"))
        for variable in container.get("env", [])
    }


def migrate_container(rendered: Render) -> dict[str, Any]:
    job = rendered.get("Job", f"{FULLNAME}-migrate")
    container: dict[str, Any] = job["spec"]["template"]["spec"]["containers"][0]
    return container


# --- the migration hook ---------------------------------------------------------------------


def test_the_hook_gives_up_before_its_deadline(renders: dict[str, Render]) -> None:
    """The longest lock wait plus one whole statement end 30 s before Kubernetes kills it."""
    for case, rendered in renders.items():
        if f"{FULLNAME}-migrate" not in rendered.names("Job"):
            continue
        job = rendered.get("Job", f"{FULLNAME}-migrate")
        env = env_of(migrate_container(rendered))
        assert set(env) >= MIGRATE_BOUNDS, case
        deadline = job["spec"]["activeDeadlineSeconds"]
        statement = int(env["UMBRELLA_MIGRATE_STATEMENT_TIMEOUT_MS"]) / 1000
        lock_wait = float(env["UMBRELLA_MIGRATE_LOCK_WAIT_SECONDS"])
        assert statement > 0, case  # 0 would mean no bound at all
        assert lock_wait + statement + 30 <= deadline, case
    default = env_of(migrate_container(renders["default"]))
    assert default["UMBRELLA_MIGRATE_STATEMENT_TIMEOUT_MS"] == str((280 - 60 - 30) * 1000)
    assert default["UMBRELLA_MIGRATE_LOCK_TIMEOUT_MS"] == "5000"
    assert default["UMBRELLA_MIGRATE_LOCK_WAIT_SECONDS"] == "60"


def test_the_bounds_follow_the_values_and_load_as_settings() -> None:
    rendered = render(
        {
            "migrations": {
                "activeDeadlineSeconds": 900,
                "lockTimeoutMs": 2000,
                "lockWaitSeconds": 120,
            }
        }
    )
    env = env_of(migrate_container(rendered))
    assert env["UMBRELLA_MIGRATE_STATEMENT_TIMEOUT_MS"] == "750000"
    settings = load_settings(
        **{
            key.removeprefix(ENV_PREFIX).lower(): value
            for key, value in (CREDENTIALS | env).items()
        }
    )
    assert settings.migrate_statement_timeout_ms == 750_000
    assert settings.migrate_lock_timeout_ms == 2000
    assert settings.migrate_lock_wait_seconds == 120
    # Only the hook is bounded so: the api and the worker keep their own statement timeout.
    for name in (f"{FULLNAME}-api", f"{FULLNAME}-worker"):
        container = rendered.get("Deployment", name)["spec"]["template"]["spec"]["containers"][0]
        assert not MIGRATE_BOUNDS & set(env_of(container)), name


def test_a_deadline_with_no_room_for_the_migration_does_not_render() -> None:
    with pytest.raises(
        HelmError, match=re.escape("must exceed migrations.lockWaitSeconds (60) + 30")
    ):
        render({"migrations": {"activeDeadlineSeconds": 90}})
    with pytest.raises(HelmError, match="activeDeadlineSeconds"):
        render({"migrations": {"activeDeadlineSeconds": 30, "lockWaitSeconds": 0}})
    for name in MIGRATE_BOUNDS:
        with pytest.raises(HelmError, match=name):
            render({"config": {"env": {name: "1"}}})
