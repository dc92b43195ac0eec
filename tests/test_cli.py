"""The command line as an operator meets it: settings errors, migrations, exit codes."""

from __future__ import annotations

import asyncpg

from tests.conftest import Servers, clean_env, make_settings, run_umbrella, subprocess_env


async def test_missing_setting_stops_with_one_line_naming_it() -> None:
    result = await run_umbrella("api", env=clean_env())
    assert result.code == 78
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "UMBRELLA_DATABASE_URL is missing" in lines[0]


async def test_invalid_setting_is_named_with_its_reason() -> None:
    result = await run_umbrella(
        "worker",
        env=clean_env(
            UMBRELLA_DATABASE_URL="mysql://nope",
            UMBRELLA_REDIS_URL="redis://127.0.0.1:1/0",
            UMBRELLA_S3_ENDPOINT="http://127.0.0.1:1",
            UMBRELLA_S3_ACCESS_KEY="a",
            UMBRELLA_S3_SECRET_KEY="b",
            UMBRELLA_SECRET_KEY="k" * 32,
        ),
    )
    assert result.code == 78
    assert "UMBRELLA_DATABASE_URL is invalid" in result.stderr
    assert "postgresql://" in result.stderr
    assert "Traceback" not in result.stderr


async def test_migrate_applies_then_is_a_no_op(servers: Servers, empty_database_url: str) -> None:
    env = subprocess_env(make_settings(servers, database_url=empty_database_url))
    first = await run_umbrella("migrate", env=env)
    assert first.code == 0, first.stderr
    assert "applied" in first.stdout
    assert "accounts/" in first.stdout
    second = await run_umbrella("migrate", env=env)
    assert second.code == 0
    assert second.stdout.strip() == "database is up to date"


async def test_migrate_failure_exits_non_zero_with_the_reason(
    servers: Servers, empty_database_url: str
) -> None:
    connection = await asyncpg.connect(empty_database_url)
    try:
        # A table that is in the way: the accounts migration cannot create `users`.
        await connection.execute("CREATE TABLE users (id int)")
    finally:
        await connection.close()
    env = subprocess_env(make_settings(servers, database_url=empty_database_url))
    result = await run_umbrella("migrate", env=env)
    assert result.code == 1
    assert "failed" in result.stderr
    assert 'relation "users" already exists' in result.stderr
    assert "Traceback" not in result.stderr
    # nothing of the failed migration was recorded as applied
    connection = await asyncpg.connect(empty_database_url)
    try:
        applied = await connection.fetch("SELECT app_name FROM migration")
    finally:
        await connection.close()
    assert "accounts" not in {row["app_name"] for row in applied}
