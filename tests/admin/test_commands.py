"""`umbrella admin …` as an operator runs it (`kubectl exec`): the real CLI, real servers."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from piccolo.engine.postgres import PostgresEngine

from tests.conftest import Servers, make_settings, run_umbrella, subprocess_env
from tests.factories import make_artist, make_user
from umbrella.accounts.tables import Session, User
from umbrella.artists.tables import Artist
from umbrella.cli import build_parser
from umbrella.config import Settings
from umbrella.core import storage
from umbrella.core.cron import all_cron_jobs
from umbrella.core.cron_runs import CronRun
from umbrella.storage.tables import StorageQuota

GIB = 1024**3


def _admin_commands() -> list[list[str]]:
    """Every runnable `umbrella admin …` command line (without its arguments)."""
    parser = build_parser()
    found: list[list[str]] = []

    def walk(current: argparse.ArgumentParser, path: list[str]) -> None:
        subparsers = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        if not subparsers:
            found.append(path)
        for action in subparsers:
            for name, child in action.choices.items():
                walk(child, [*path, name])

    admin = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[
        "admin"
    ]
    walk(admin, ["admin"])
    return found


def test_every_admin_command_has_help() -> None:
    commands = _admin_commands()
    names = {" ".join(command) for command in commands}
    assert {
        "admin users create",
        "admin users delete",
        "admin sessions revoke",
        "admin artists verify",
        "admin artists unverify",
        "admin cron list",
        "admin cron run",
        "admin quota report",
        "admin doctor",
    } <= names
    for command in commands:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exited:
            build_parser().parse_args([*command, "--help"])
        assert exited.value.code == 0
        assert out.getvalue().startswith(f"usage: umbrella {' '.join(command)}")


async def test_missing_setting_exits_78(settings: Settings) -> None:
    env = subprocess_env(settings)
    del env["UMBRELLA_DATABASE_URL"]
    result = await run_umbrella("admin", "quota", "report", env=env)
    assert result.code == 78
    assert "UMBRELLA_DATABASE_URL is missing" in result.stderr


async def test_unreachable_postgres_exits_1_with_the_reason(settings: Settings) -> None:
    env = subprocess_env(settings, UMBRELLA_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    result = await run_umbrella("admin", "artists", "verify", "someone@example.com", env=env)
    assert result.code == 1
    assert "cannot reach postgres" in result.stderr
    assert "Traceback" not in result.stderr


async def test_create_venue_then_refuse_a_duplicate(settings: Settings, db: PostgresEngine) -> None:
    env = subprocess_env(settings)
    created = await run_umbrella(
        "admin", "users", "create", "--email", "Bookings@Bluebird.example",
        "--role", "venue", "--name", "The Bluebird", env=env,
    )  # fmt: skip
    assert created.code == 0, created.stderr
    assert "created venue bookings@bluebird.example" in created.stdout
    user = await User.select().where(User.email == "bookings@bluebird.example").first()
    assert user is not None
    assert (user["role"], user["display_name"], user["oauth_id"]) == ("venue", "The Bluebird", None)
    assert str(user["id"]) in created.stdout

    again = await run_umbrella(
        "admin", "users", "create", "--email", "bookings@bluebird.example", "--role", "admin",
        env=env,
    )  # fmt: skip
    assert again.code == 1
    assert "already exists" in again.stderr
    assert "role venue" in again.stderr
    assert await User.count().where(User.email == "bookings@bluebird.example") == 1


async def test_create_user_refuses_an_artist_role_and_a_bad_email(settings: Settings) -> None:
    env = subprocess_env(settings)
    artist = await run_umbrella(
        "admin", "users", "create", "--email", "a@example.com", "--role", "artist", env=env
    )
    assert artist.code == 2
    assert "invalid choice: 'artist'" in artist.stderr
    bad = await run_umbrella(
        "admin", "users", "create", "--email", "not-an-email", "--role", "admin", env=env
    )
    assert bad.code == 1
    assert "not an email address" in bad.stderr


async def test_verify_and_unverify_an_artist_by_email_and_id(
    settings: Settings, db: PostgresEngine
) -> None:
    _, artist_id = await make_artist(stage_name="Luna Vega", email="luna@example.com")
    env = subprocess_env(settings)

    verified = await run_umbrella("admin", "artists", "verify", "LUNA@example.com", env=env)
    assert verified.code == 0, verified.stderr
    assert verified.stdout.strip() == f"Luna Vega (artist {artist_id}) is verified"
    assert await Artist.select(Artist.verified).where(Artist.id == artist_id).first() == {
        "verified": True
    }

    again = await run_umbrella("admin", "artists", "verify", str(artist_id), env=env)
    assert again.code == 0
    assert again.stdout.startswith("unchanged: ")

    removed = await run_umbrella("admin", "artists", "unverify", str(artist_id), env=env)
    assert removed.code == 0
    assert "is not verified" in removed.stdout
    row = await Artist.select(Artist.verified).where(Artist.id == artist_id).first()
    assert row == {"verified": False}

    missing = await run_umbrella("admin", "artists", "verify", "nobody@example.com", env=env)
    assert missing.code == 1
    assert "no artist has the id or email 'nobody@example.com'" in missing.stderr


async def test_revoke_sessions_signs_the_user_out_everywhere(
    settings: Settings, db: PostgresEngine
) -> None:
    user_id = await make_user(email="lost-phone@example.com")
    other_id = await make_user()
    now = datetime.now(UTC)
    for token_hash, owner in (("a" * 64, user_id), ("b" * 64, user_id), ("c" * 64, other_id)):
        await Session.insert(
            Session(
                token_hash=token_hash,
                user_id=owner,
                created_at=now,
                expires_at=now + timedelta(days=7),
            )
        )
    env = subprocess_env(settings)
    result = await run_umbrella("admin", "sessions", "revoke", "lost-phone@example.com", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == "revoked 2 session(s) of lost-phone@example.com"
    rows = await Session.select(Session.token_hash, Session.revoked_at)
    revoked = {row["token_hash"] for row in rows if row["revoked_at"] is not None}
    assert revoked == {"a" * 64, "b" * 64}

    again = await run_umbrella("admin", "sessions", "revoke", str(user_id), env=env)
    assert again.stdout.strip() == "revoked 0 session(s) of lost-phone@example.com"
    unknown = await run_umbrella("admin", "sessions", "revoke", str(uuid.uuid4()), env=env)
    assert unknown.code == 1
    assert "no user has the id or email" in unknown.stderr


async def test_delete_user_removes_the_account_and_its_profile(
    settings: Settings, db: PostgresEngine
) -> None:
    user_id, artist_id = await make_artist(email="leaving@example.com")
    other_id, other_artist_id = await make_artist(stage_name="Staying")
    env = subprocess_env(settings)
    unconfirmed = await run_umbrella("admin", "users", "delete", "leaving@example.com", env=env)
    assert unconfirmed.code == 2
    assert await User.exists().where(User.id == user_id)

    result = await run_umbrella("admin", "users", "delete", "leaving@example.com", "--yes", env=env)
    assert result.code == 0, result.stderr
    assert result.stdout.startswith("deleted leaving@example.com: 0 session(s) revoked")
    assert not await User.exists().where(User.id == user_id)
    assert not await Artist.exists().where(Artist.id == artist_id)
    assert await Artist.exists().where(Artist.id == other_artist_id)
    assert await User.exists().where(User.id == other_id)
    again = await run_umbrella("admin", "users", "delete", str(user_id), "--yes", env=env)
    assert again.code == 1
    assert "no user has the id or email" in again.stderr


async def test_cron_list_and_run_now(settings: Settings, db: PostgresEngine) -> None:
    env = subprocess_env(settings)
    before = await run_umbrella("admin", "cron", "list", "--json", env=env)
    assert before.code == 0, before.stderr
    listed = [json.loads(line) for line in before.stdout.splitlines()]
    assert {row["job"]: row["schedule"] for row in listed} == {
        job.name: job.schedule for job in all_cron_jobs().values()
    }
    assert all(row["last_success_at"] is None for row in listed)

    ran = await run_umbrella("admin", "cron", "run", "sessions-cleanup", env=env)
    assert ran.code == 0, ran.stderr
    assert ran.stdout.startswith("sessions-cleanup: deleted")
    runs = await CronRun.select(CronRun.outcome).where(CronRun.job == "sessions-cleanup")
    assert runs == [{"outcome": "succeeded"}]

    after = await run_umbrella("admin", "cron", "list", env=env)
    line = next(line for line in after.stdout.splitlines() if line.startswith("sessions-cleanup"))
    assert "succeeded" in line
    assert "never" not in line

    unknown = await run_umbrella("admin", "cron", "run", "no-such-job", env=env)
    assert unknown.code == 2
    assert "known jobs: " in unknown.stderr


async def test_quota_report_lists_the_biggest_artists_first(
    settings: Settings, db: PostgresEngine
) -> None:
    now = datetime.now(UTC)
    for name, used in (("Small", 1 * GIB), ("Huge", 49 * GIB), ("Middle", 10 * GIB)):
        _, artist_id = await make_artist(stage_name=name)
        await StorageQuota.insert(
            StorageQuota(artist_id=artist_id, used_bytes=used, limit_bytes=50 * GIB, updated_at=now)
        )
    env = subprocess_env(settings)
    result = await run_umbrella("admin", "quota", "report", "--top", "2", env=env)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "3 artist(s) store 60.0 GiB; 0 within 1% of their quota"
    assert [line.split()[1] for line in lines[2:]] == ["Huge", "Middle"]
    assert "98.0%" in lines[2]

    as_json = await run_umbrella("admin", "quota", "report", "--json", env=env)
    report = json.loads(as_json.stdout)
    assert report["total_used_bytes"] == 60 * GIB
    assert [row["stage_name"] for row in report["top"]] == ["Huge", "Middle", "Small"]

    bad = await run_umbrella("admin", "quota", "report", "--top", "0", env=env)
    assert bad.code == 2


@pytest.fixture
async def bucket(settings: Settings) -> None:
    async with storage.storage(settings):  # creates this test's bucket, as the api does
        pass


@pytest.mark.usefixtures("bucket")
async def test_doctor_passes_on_a_healthy_stack_without_printing_secrets(
    settings: Settings,
) -> None:
    env = subprocess_env(
        settings,
        UMBRELLA_EMAIL_BACKEND="resend",
        UMBRELLA_RESEND_API_KEY="re_live_supersecret_key",
        UMBRELLA_ANTHROPIC_API_KEY="sk-ant-supersecret",
    )
    result = await run_umbrella("admin", "doctor", env=env)
    assert result.code == 0, result.stdout + result.stderr
    status = {line.split()[1]: line.split()[0] for line in result.stdout.splitlines()[1:-1]}
    assert status == {
        "settings": "ok",
        "postgres": "ok",
        "migrations": "ok",
        "redis": "ok",
        "s3": "ok",
        "email": "info",
        "sms": "info",
        "violet": "info",
        "sign-in": "info",
    }
    assert result.stdout.splitlines()[-1] == "everything required works"
    assert "API key set" in result.stdout
    for secret in (
        "re_live_supersecret_key",
        "sk-ant-supersecret",
        settings.secret_key.get_secret_value(),
        settings.s3_secret_key.get_secret_value(),
    ):
        assert secret not in result.stdout + result.stderr


async def test_doctor_fails_on_pending_migrations_and_a_dead_redis(
    servers: Servers, empty_database_url: str
) -> None:
    env = subprocess_env(
        make_settings(servers, database_url=empty_database_url),
        UMBRELLA_REDIS_URL="redis://127.0.0.1:1/0",
    )
    result = await run_umbrella("admin", "doctor", "--json", env=env)
    assert result.code == 1
    checks = {check["name"]: check for check in json.loads(result.stdout)["checks"]}
    assert checks["postgres"]["status"] == "ok"
    assert checks["migrations"]["status"] == "FAIL"
    assert "run `umbrella migrate`" in checks["migrations"]["detail"]
    assert checks["redis"]["status"] == "FAIL"
    assert checks["s3"]["status"] == "warn"
    assert "UMBRELLA_S3_CREATE_BUCKET=true creates it" in checks["s3"]["detail"]


async def test_doctor_checks_the_api_when_asked(settings: Settings) -> None:
    result = await run_umbrella(
        "admin", "doctor", "--api-url", "http://127.0.0.1:1", env=subprocess_env(settings)
    )
    assert result.code == 1
    line = next(line for line in result.stdout.splitlines() if line.split()[1] == "api")
    assert line.split()[0] == "FAIL"
    assert result.stdout.splitlines()[-1] == "1 problem(s) found"
