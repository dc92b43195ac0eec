"""Provider clients need no database of their own: fixtures that skip cloning one."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from tests.conftest import Servers, make_settings
from umbrella.config import EmailBackend, Settings, SmsBackend, load_settings


@pytest.fixture
async def settings(servers: Servers, redis_client: Redis) -> Settings:
    """The test servers (an empty Redis db, its own bucket) without a database per test."""
    return make_settings(servers)


@pytest.fixture
def base_settings() -> Settings:
    """Settings that reach no server: for clients that talk only to a fake."""
    return load_settings(
        database_url="postgresql://unused@127.0.0.1:1/unused",
        redis_url="redis://127.0.0.1:1/0",
        s3_endpoint="http://127.0.0.1:1",
        s3_access_key="unused",
        s3_secret_key="unused",
        secret_key="s" * 32,
        email_backend=EmailBackend.CONSOLE,
        sms_backend=SmsBackend.CONSOLE,
        public_base_url="https://api.umbrella.example",
    )
