"""Settings: every knob of every process, read from `UMBRELLA_*` environment variables.

Nothing here is read at import time: the CLI calls `load_settings()` once and passes the
result down. README.md lists every field below with its default and meaning.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "UMBRELLA_"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"


class EmailBackend(StrEnum):
    RESEND = "resend"
    CONSOLE = "console"


class SmsBackend(StrEnum):
    TWILIO = "twilio"
    CONSOLE = "console"


# A key that signs or verifies cursors and links (core/signing.py).
SigningKey = Annotated[SecretStr, Field(min_length=32)]


class Settings(BaseSettings):
    """Configuration shared by the api, the worker, cron jobs and operator commands."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    env: Environment = Environment.PRODUCTION

    # Postgres
    database_url: str
    db_pool_min_size: int = Field(default=2, ge=0)
    db_pool_max_size: int = Field(default=10, ge=1)
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    # How long a request waits for a pooled connection before a 503 naming Postgres.
    db_pool_acquire_timeout_seconds: float = Field(default=5.0, gt=0)
    db_statement_timeout_ms: int = Field(default=10_000, ge=0)
    # asyncpg's prepared-statement cache per connection; 0 behind PgBouncer in transaction
    # pooling, where a statement prepared on one server connection is missing on the next.
    db_statement_cache_size: int = Field(default=100, ge=0)
    # The worker's queue connection LISTENs, which a transaction pooler cannot carry: when
    # the api goes through PgBouncer, the worker and migrations use this direct address.
    direct_database_url: str | None = None

    # Migrations (`umbrella migrate`): DDL waits at most lock_timeout for a table lock (a
    # long query holding it must not queue every request behind the migration) and runs
    # at most statement_timeout; the advisory lock that serialises runs is tried, not
    # waited on, for migrate_lock_wait_seconds.
    migrate_lock_timeout_ms: int = Field(default=5_000, ge=1)
    migrate_statement_timeout_ms: int = Field(default=240_000, ge=0)
    migrate_lock_wait_seconds: float = Field(default=60.0, ge=0)

    # Redis
    redis_url: str
    redis_timeout_seconds: float = Field(default=0.5, gt=0)

    # S3 (MinIO in Kubernetes, SeaweedFS in development and tests)
    s3_endpoint: str
    s3_public_endpoint: str | None = None
    s3_access_key: SecretStr
    s3_secret_key: SecretStr
    s3_bucket: str = Field(default="umbrella", min_length=3, max_length=63)
    s3_region: str = "us-east-1"
    s3_create_bucket: bool = False
    s3_timeout_seconds: float = Field(default=5.0, gt=0)

    # HTTP server
    host: str = "0.0.0.0"  # noqa: S104  (a pod listens on all of its interfaces)
    port: int = Field(default=8080, ge=1, le=65535)
    public_base_url: str = "http://localhost:8080"
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Deepest nesting of arrays and objects in a JSON body (400 `body` past it).
    max_json_depth: int = Field(default=32, ge=2, le=512)
    shutdown_grace_seconds: float = Field(default=25.0, ge=0)
    shutdown_delay_seconds: float = Field(default=0.0, ge=0)
    health_timeout_seconds: float = Field(default=1.0, gt=0)
    # Bearer token that unlocks `/health`'s per-dependency details from outside the
    # cluster; unset, only in-cluster (non-forwarded) callers see them.
    health_token: SecretStr | None = None

    # Sessions
    session_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    session_cookie_name: str = "umbrella_session"
    session_cookie_secure: bool = True
    # How often each api process reads the session cache's epoch: a session revoked while
    # Redis was down is refused this long at most after Redis is back with its old copy.
    session_revocation_check_seconds: float = Field(default=2.0, gt=0, le=60)

    # Sign-in
    # Where the browser lands after a provider sign-in; unset, the callback answers JSON.
    auth_redirect_url: str | None = None
    auth_rate_limit_per_minute: int = Field(default=10, ge=1, le=10_000)
    # Reverse proxies (ingress, load balancer) in front of the api that append to
    # X-Forwarded-For; 0 trusts no header and uses the peer address.
    trusted_proxy_hops: int = Field(default=0, ge=0, le=10)

    # Abuse limits (docs/limits.md), counted in Redis across replicas: writes (POST, PUT,
    # PATCH, DELETE under /v1) per signed-in user and per client IP, presigned upload URLs
    # and contact imports per user. Far above what a person clicking in the web app does.
    write_rate_limit_per_minute: int = Field(default=120, ge=1, le=100_000)
    write_rate_limit_per_ip_per_minute: int = Field(default=300, ge=1, le=100_000)
    upload_rate_limit_per_minute: int = Field(default=60, ge=1, le=100_000)
    upload_rate_limit_per_hour: int = Field(default=600, ge=1, le=1_000_000)
    contact_import_rate_limit_per_hour: int = Field(default=20, ge=1, le=10_000)
    # Trusted-proxy sign-in (an auth proxy such as Cloudflare Access in front of the
    # ingress): on only when the JWKS URL, issuer and audience are all set.
    auth_proxy_header: str = Field(default="Cf-Access-Jwt-Assertion", min_length=1)
    auth_proxy_jwks_url: str | None = None
    auth_proxy_issuer: str | None = None
    auth_proxy_audience: str | None = None

    # Links in emails (review invitations) open the web app here; unset: public_base_url.
    web_app_url: str | None = None

    # Worker
    worker_concurrency: int = Field(default=10, ge=1)
    worker_metrics_port: int = Field(default=9090, ge=1, le=65535)
    job_max_attempts: int = Field(default=5, ge=1)
    job_heartbeat_timeout_seconds: float = Field(default=30.0, ge=1)
    # On SIGTERM the worker stops taking jobs and waits this long for running ones; past
    # it they are cancelled (their heartbeat lapses and another worker takes them up).
    # Keep below the pod's terminationGracePeriodSeconds.
    worker_shutdown_grace_seconds: float = Field(default=25.0, ge=0)
    # Sub-hourly cron jobs run inside the worker on the queue's scheduler, exactly once
    # across workers; off, they run only through `umbrella cron <job>`.
    worker_scheduler_enabled: bool = True
    # Rows of the queue's log (pgqueuer_log) older than this are pruned daily.
    queue_log_retention_days: int = Field(default=7, ge=1)
    # Broadcast deliveries retry a provider's outage with capped, jittered exponential backoff
    # for at least the horizon before they are failed (docs/broadcasts.md).
    broadcast_retry_horizon_seconds: float = Field(default=3600.0, gt=0)
    broadcast_retry_base_seconds: float = Field(default=1.0, gt=0)
    broadcast_retry_max_delay_seconds: float = Field(default=600.0, gt=0)

    # Email (Resend); `console` logs each message instead of sending it.
    email_backend: EmailBackend = EmailBackend.RESEND
    resend_api_key: SecretStr | None = None
    resend_base_url: str = "https://api.resend.com"
    email_from_address: str = "no-reply@example.com"
    email_from_name: str = Field(default="Umbrella", min_length=1, max_length=100)
    email_reply_to: str | None = None
    email_timeout_seconds: float = Field(default=10.0, gt=0)
    # Signing secret (`whsec_…`) of the Resend webhook (bounces, complaints); unset: it answers 503.
    resend_webhook_secret: SecretStr | None = None

    # SMS (Twilio); `console` logs each message instead of sending it.
    sms_backend: SmsBackend = SmsBackend.TWILIO
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_base_url: str = "https://api.twilio.com"
    sms_from_transactional: str | None = None
    sms_from_fans: str | None = None
    sms_rate_per_second: float = Field(default=10.0, gt=0)
    sms_timeout_seconds: float = Field(default=10.0, gt=0)
    # What one SMS segment costs (USD), for the broadcast preview's estimate only.
    sms_price_per_segment: Decimal = Field(default=Decimal("0.0079"), ge=0, decimal_places=6)

    # Violet's model (Anthropic); without a key Violet answers 503.
    anthropic_api_key: SecretStr | None = None
    anthropic_base_url: str = "https://api.anthropic.com"
    # The newest Sonnet the installed SDK lists and does not deprecate; a deprecated one is
    # warned about at start (integrations/llm.py).
    llm_model: str = "claude-sonnet-5-5"
    llm_max_tokens: int = Field(default=1024, ge=1, le=64_000)
    llm_timeout_seconds: float = Field(default=30.0, gt=0)

    # Sign-in with Google and Apple (OIDC); a provider is enabled when its client id is set.
    google_client_id: str | None = None
    google_client_secret: SecretStr | None = None
    google_discovery_url: str = "https://accounts.google.com/.well-known/openid-configuration"
    apple_client_id: str | None = None
    apple_team_id: str | None = None
    apple_key_id: str | None = None
    apple_private_key: SecretStr | None = None
    apple_discovery_url: str = "https://appleid.apple.com/.well-known/openid-configuration"
    oidc_timeout_seconds: float = Field(default=5.0, gt=0)
    oidc_jwks_cache_seconds: int = Field(default=3600, ge=0)

    # Signs cursors and links (unsubscribe links in sent email among them). To rotate it,
    # move the old key to previous_secret_keys: those still verify, only the new one signs.
    secret_key: SecretStr = Field(min_length=32)
    previous_secret_keys: Annotated[list[SigningKey], NoDecode] = Field(default_factory=list)

    # Logging
    log_level: str = "INFO"
    log_format: LogFormat = LogFormat.JSON

    @field_validator("database_url")
    @classmethod
    def _postgres_scheme(cls, value: str) -> str:
        if urlsplit(value).scheme not in {"postgres", "postgresql"}:
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must be a redis:// or rediss:// URL")
        return value

    @field_validator(
        "s3_endpoint",
        "s3_public_endpoint",
        "public_base_url",
        "resend_base_url",
        "twilio_base_url",
        "anthropic_base_url",
        "google_discovery_url",
        "apple_discovery_url",
        "auth_redirect_url",
        "auth_proxy_jwks_url",
        "web_app_url",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("previous_secret_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @model_validator(mode="after")
    def _providers_have_credentials(self) -> Settings:
        # A process that would send mail or texts must not start without the means to.
        if self.email_backend is EmailBackend.RESEND and self.resend_api_key is None:
            raise _missing("resend_api_key", "UMBRELLA_EMAIL_BACKEND=resend")
        if self.sms_backend is SmsBackend.TWILIO:
            for name in ("twilio_account_sid", "twilio_auth_token", "sms_from_transactional"):
                if getattr(self, name) is None:
                    raise _missing(name, "UMBRELLA_SMS_BACKEND=twilio")
        if self.apple_client_id is not None:
            for name in ("apple_team_id", "apple_key_id", "apple_private_key"):
                if getattr(self, name) is None:
                    raise _missing(name, "UMBRELLA_APPLE_CLIENT_ID is set")
        proxy = ("auth_proxy_jwks_url", "auth_proxy_issuer", "auth_proxy_audience")
        if any(getattr(self, name) for name in proxy):
            for name in proxy:
                if not getattr(self, name):
                    raise _missing(name, "trusted-proxy sign-in needs all three")
        return self

    @property
    def auth_proxy_enabled(self) -> bool:
        """Trusted-proxy sign-in (`POST /v1/auth/callback`) is off unless fully configured."""
        return self.auth_proxy_jwks_url is not None

    @property
    def app_url(self) -> str:
        """The base of links sent to people: the web app, else the API's public URL."""
        return self.web_app_url or self.public_base_url

    @property
    def sms_from_fan_messages(self) -> str | None:
        """The sender of fan broadcasts: its own number if set, else the transactional one."""
        return self.sms_from_fans or self.sms_from_transactional

    @property
    def dev_login_enabled(self) -> bool:
        """The dev login exists only in development; nothing can switch it on elsewhere."""
        return self.env is Environment.DEVELOPMENT


class SettingsError(Exception):
    """A missing or invalid setting, named the way an operator sets it."""


class _MissingSetting(ValueError):
    def __init__(self, name: str, because: str) -> None:
        self.setting = name
        super().__init__(f"setting {ENV_PREFIX}{name.upper()} is missing ({because})")


def _missing(name: str, because: str) -> _MissingSetting:
    return _MissingSetting(name, because)


def load_settings(**overrides: object) -> Settings:
    """Read the environment (plus explicit overrides) once; raise `SettingsError` on any problem."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        cause = first.get("ctx", {}).get("error")
        if isinstance(cause, _MissingSetting):
            raise SettingsError(str(cause)) from None
        name = ENV_PREFIX + str(first["loc"][0]).upper() if first["loc"] else "settings"
        reason = "is missing" if first["type"] == "missing" else f"is invalid: {first['msg']}"
        more = len(error.errors()) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
        raise SettingsError(f"setting {name} {reason}{suffix}") from None


def redact_url(url: str) -> str:
    """Drop the password from a DSN so it can be logged."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
