"""A dependency goes away: clear 503s and readiness naming it, then recovery on its own."""

from __future__ import annotations

from tests.conftest import start_client
from tests.factories import make_user
from umbrella import keys
from umbrella.accounts.service import SessionStore
from umbrella.app import create_app
from umbrella.config import Settings
from umbrella.core.migrations import migrate
from umbrella.devstack import DevStack


async def test_postgres_down_gives_503_and_recovers(
    settings: Settings, own_postgres: DevStack
) -> None:
    pg_settings = settings.model_copy(
        update={
            "database_url": own_postgres.endpoints.database_url,
            "db_connect_timeout_seconds": 1,
        }
    )
    await migrate(pg_settings)
    app = create_app(pg_settings)
    client = await start_client(app)
    try:
        user_id = await make_user()
        store: SessionStore = app[keys.SESSIONS]
        token = (await store.create(user_id=user_id)).token  # cached in Redis
        headers = {"Authorization": f"Bearer {token}"}

        own_postgres.processes["postgres"].stop()
        failed = await client.get("/v1/auth/session", headers=headers)
        assert failed.status == 503
        body = await failed.json()
        assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert body["error"]["message"] == "Postgres is temporarily unavailable. Try again shortly."
        assert failed.headers["Retry-After"] == "5"
        ready = await client.get("/readyz")
        assert ready.status == 503
        assert (await ready.json())["down"] == ["postgres"]

        own_postgres.restart("postgres")
        assert (await client.get("/readyz")).status == 200
        recovered = await client.get("/v1/auth/session", headers=headers)
        assert recovered.status == 200
    finally:
        await client.close()


async def test_s3_down_is_named_by_readiness_and_recovers(
    settings: Settings, own_s3: DevStack
) -> None:
    s3_settings = settings.model_copy(
        update={"s3_endpoint": own_s3.endpoints.s3_endpoint, "s3_timeout_seconds": 1}
    )
    client = await start_client(create_app(s3_settings))
    try:
        own_s3.processes["s3"].stop()
        down = await client.get("/readyz")
        assert down.status == 503
        assert (await down.json())["down"] == ["s3"]
        own_s3.restart("s3")
        assert (await client.get("/readyz")).status == 200
    finally:
        await client.close()
