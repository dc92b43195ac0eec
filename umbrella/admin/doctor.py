"""`umbrella admin doctor`: is this pod's configuration complete and can it reach everything?

Checks the settings, Postgres, the migrations, Redis, the S3 bucket and (optionally) the
api's `/readyz`, and reports how each provider is configured without printing a secret.
Exit 0 when everything required works, 1 when something required is broken, 78 when a
setting is missing or invalid. `helm test` runs it in the cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from umbrella.admin import runtime
from umbrella.config import EmailBackend, Environment, Settings, SmsBackend, redact_url

OK, WARN, FAIL, SKIP, INFO = "ok", "warn", "FAIL", "skip", "info"


@dataclass
class Check:
    name: str
    status: str
    detail: str
    latency_ms: float | None = None


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = commands.add_parser(
        "doctor",
        help="check the settings and every dependency; exit 1 if something required is broken",
        description="Checks the settings, Postgres, applied migrations, Redis and the S3 bucket, "
        "and reports how Resend, Twilio, Anthropic and Google/Apple sign-in are configured "
        "(never printing a secret).",
    )
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")
    doctor.add_argument(
        "--api-url",
        metavar="URL",
        help="also check the api's /readyz at this base URL (e.g. http://umbrella-api)",
    )
    doctor.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    settings = runtime.load()
    checks = asyncio.run(run_checks(settings, api_url=args.api_url))
    failed = [check for check in checks if check.status == FAIL]
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [asdict(check) for check in checks]}))
    else:
        from umbrella import __version__

        print(f"umbrella {__version__} doctor (UMBRELLA_ENV={settings.env.value})")
        for check in checks:
            latency = f" [{check.latency_ms:.0f} ms]" if check.latency_ms is not None else ""
            print(f"  {check.status:<4}  {check.name:<10}  {check.detail}{latency}")
        print(f"{len(failed)} problem(s) found" if failed else "everything required works")
    return runtime.EXIT_FAILURE if failed else runtime.EXIT_OK


async def run_checks(settings: Settings, *, api_url: str | None = None) -> list[Check]:
    """Every check, dependencies at once; each is bounded by its own timeout."""
    checks = [_settings_check(settings)]
    postgres_and_migrations, redis, s3 = await asyncio.gather(
        _postgres(settings), _redis(settings), _s3(settings)
    )
    checks += [*postgres_and_migrations, redis, s3]
    if api_url:
        checks.append(await _api(settings, api_url))
    checks += _providers(settings)
    return checks


def _settings_check(settings: Settings) -> Check:
    if settings.env is not Environment.PRODUCTION:
        return Check("settings", OK, f"loaded (env {settings.env.value})")
    problems = []
    if not settings.session_cookie_secure:
        problems.append("UMBRELLA_SESSION_COOKIE_SECURE=false sends session cookies over HTTP")
    if not settings.public_base_url.startswith("https://"):
        problems.append(f"UMBRELLA_PUBLIC_BASE_URL is not https ({settings.public_base_url})")
    if settings.email_backend is EmailBackend.CONSOLE:
        problems.append("UMBRELLA_EMAIL_BACKEND=console: email is logged, not sent")
    if settings.sms_backend is SmsBackend.CONSOLE:
        problems.append("UMBRELLA_SMS_BACKEND=console: texts are logged, not sent")
    if problems:
        return Check("settings", WARN, "loaded; " + "; ".join(problems))
    return Check("settings", OK, "loaded (env production)")


async def _timed(name: str, limit: float, probe: Callable[[], Awaitable[str]]) -> Check:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(limit):
            detail = await probe()
    except TimeoutError:
        return Check(name, FAIL, f"no answer within {limit:g} s", _ms(started))
    except Exception as error:  # any failure is the finding; only its kind and text are shown
        return Check(name, FAIL, f"{type(error).__name__}: {error}", _ms(started))
    return Check(name, OK, detail, _ms(started))


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


async def _postgres(settings: Settings) -> list[Check]:
    import asyncpg

    from umbrella.core import db

    where = redact_url(settings.database_url)
    connection: asyncpg.Connection | None = None

    async def connect() -> str:
        nonlocal connection
        connection = await asyncpg.connect(
            **db.connection_config(settings, application_name="umbrella-doctor")
        )
        version = await connection.fetchval("SHOW server_version")
        return f"PostgreSQL {version} at {where}"

    reached = await _timed("postgres", settings.db_connect_timeout_seconds + 1, connect)
    if reached.status != OK or connection is None:
        reached.detail = f"{reached.detail} ({where})"
        return [reached, Check("migrations", SKIP, "postgres is not reachable")]
    try:
        migrations = await _migrations(settings, connection)
    finally:
        await connection.close()
    return [reached, migrations]


async def _migrations(settings: Settings, connection: Any) -> Check:
    if not await connection.fetchval("SELECT to_regclass('migration') IS NOT NULL"):
        return Check("migrations", FAIL, "none applied: run `umbrella migrate`")
    from piccolo.apps.migrations.commands.check import CheckMigrationManager

    from umbrella.core import db

    try:
        async with db.database(settings, application_name="umbrella-doctor"):
            statuses = await CheckMigrationManager("all").get_migration_statuses()
    except Exception as error:  # a broken migrations folder is a finding, not a crash
        return Check("migrations", FAIL, f"cannot read the migrations: {error}")
    pending = [f"{s.app_name}/{s.migration_id}" for s in statuses if not s.has_ran]
    if pending:
        shown = ", ".join(pending[:5]) + (" …" if len(pending) > 5 else "")
        return Check(
            "migrations", FAIL, f"{len(pending)} pending: {shown} (run `umbrella migrate`)"
        )
    if not await connection.fetchval("SELECT to_regclass('pgqueuer') IS NOT NULL"):
        return Check("migrations", FAIL, "the job queue tables are missing")
    return Check("migrations", OK, f"all {len(statuses)} applied")


async def _redis(settings: Settings) -> Check:
    from redis.asyncio import Redis

    where = redact_url(settings.redis_url)
    # The api gives up on Redis within UMBRELLA_REDIS_TIMEOUT_SECONDS because it can fall
    # back; the doctor asks whether Redis answers at all, so it waits a little longer.
    limit = max(settings.redis_timeout_seconds, 3.0)
    client = Redis.from_url(settings.redis_url, socket_timeout=limit, socket_connect_timeout=limit)

    async def ping() -> str:
        await client.ping()
        return f"PING answered at {where}"

    try:
        check = await _timed("redis", limit + 1, ping)
    finally:
        await client.aclose()
    if check.status == FAIL:
        check.detail = f"{check.detail} ({where}; the api and the worker do not start without it)"
    return check


async def _s3(settings: Settings) -> Check:
    import aiohttp

    from umbrella.core import storage

    where = f"bucket {settings.s3_bucket!r} at {settings.s3_endpoint}"

    async def bucket() -> str:
        timeout = aiohttp.ClientTimeout(total=settings.s3_timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            client = storage.build_client(settings, session)
            if not await client.bucket_exists(settings.s3_bucket):
                raise LookupError(f"{where} does not exist")
        return f"{where} reachable"

    check = await _timed("s3", settings.s3_timeout_seconds + 1, bucket)
    if (
        check.status == FAIL
        and check.detail.startswith("LookupError")
        and settings.s3_create_bucket
    ):
        check.status = WARN
        check.detail = f"{where} does not exist yet; UMBRELLA_S3_CREATE_BUCKET=true creates it"
    elif check.status == FAIL and where not in check.detail:
        check.detail = f"{check.detail} ({where})"
    return check


async def _api(settings: Settings, base_url: str) -> Check:
    import aiohttp

    url = base_url.rstrip("/") + "/readyz"

    async def readyz() -> str:
        timeout = aiohttp.ClientTimeout(total=settings.health_timeout_seconds + 4)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url) as response,
        ):
            body = await response.text()
            if response.status != 200:
                raise RuntimeError(f"{url} answered {response.status}: {body[:200]}")
        return f"{url} answered 200"

    return await _timed("api", settings.health_timeout_seconds + 5, readyz)


def _is_set(value: object) -> str:
    return "set" if value else "NOT set"


def _providers(settings: Settings) -> list[Check]:
    checks = []
    if settings.email_backend is EmailBackend.RESEND:
        checks.append(
            Check(
                "email",
                INFO,
                f"resend at {settings.resend_base_url}"
                f" (API key {_is_set(settings.resend_api_key)}),"
                f" from {settings.email_from_address}",
            )
        )
    else:
        checks.append(Check("email", INFO, "console: messages are logged, not sent"))
    if settings.sms_backend is SmsBackend.TWILIO:
        sid = settings.twilio_account_sid or ""
        checks.append(
            Check(
                "sms",
                INFO,
                f"twilio account {sid[:6]}… (auth token {_is_set(settings.twilio_auth_token)}),"
                f" transactional sender {settings.sms_from_transactional},"
                f" fan sender {settings.sms_from_fan_messages}",
            )
        )
    else:
        checks.append(Check("sms", INFO, "console: texts are logged, not sent"))
    if settings.anthropic_api_key:
        violet = f"on: model {settings.llm_model} (API key set)"
    else:
        violet = "off: UMBRELLA_ANTHROPIC_API_KEY is not set (Violet answers 503)"
    checks.append(Check("violet", INFO, violet))
    google = "on" if settings.google_client_id else "off"
    status = INFO
    if settings.google_client_id and not settings.google_client_secret:
        google, status = "on, but UMBRELLA_GOOGLE_CLIENT_SECRET is NOT set", WARN
    apple = "on" if settings.apple_client_id else "off"
    checks.append(Check("sign-in", status, f"google {google}; apple {apple}"))
    return checks
