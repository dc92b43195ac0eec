"""A dependency goes away: clear 503s where it is needed, then recovery on its own.

Postgres away takes the pod out of the Service (nothing works without it); S3 away only
fails what moves files, and the pod stays ready.
"""

from __future__ import annotations

from tests.conftest import start_client
from tests.factories import make_user
from tests.files.flow import artist_session, confirm, data_of, error_of, sent, ticket_for
from tests.uploads import PNG
from tests.workers import eventually
from umbrella.accounts import views as accounts_views
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
        store: SessionStore = app[accounts_views.SESSION_STORE]
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
        assert await ready.json() == {"status": "unavailable"}

        own_postgres.restart("postgres")

        async def ready_again() -> bool:
            return (await client.get("/readyz")).status == 200

        # Probes share one ping a second: the next one after the restart says ready.
        await eventually(ready_again, seconds=5, what="ready after Postgres is back")
        recovered = await client.get("/v1/auth/session", headers=headers)
        assert recovered.status == 200
    finally:
        await client.close()


async def test_s3_down_fails_only_what_needs_it_and_recovers(
    settings: Settings, own_s3: DevStack
) -> None:
    s3_settings = settings.model_copy(
        update={"s3_endpoint": own_s3.endpoints.s3_endpoint, "s3_timeout_seconds": 1}
    )
    client = await start_client(create_app(s3_settings))
    try:
        _, headers = await artist_session(client)
        ticket = await ticket_for(client, headers, PNG, "image/png")
        await sent(ticket, PNG)

        own_s3.processes["s3"].stop()
        ready = await client.get("/readyz")
        assert (ready.status, await ready.json()) == (200, {"status": "ready"})
        assert (await client.get("/v1/auth/session", headers=headers)).status == 200
        assert (await client.get("/v1/files", headers=headers)).status == 200
        # Confirming reads the object: only that needs the store.
        failed = await confirm(client, headers, ticket["upload_id"])
        error = await error_of(failed, 503)
        assert error["code"] == "SERVICE_UNAVAILABLE"
        assert error["message"] == "File storage is temporarily unavailable. Try again shortly."
        assert failed.headers["Retry-After"] == "5"

        own_s3.restart("s3")
        created = await data_of(await confirm(client, headers, ticket["upload_id"]), 201)
        assert created["id"] == ticket["file_id"]
    finally:
        await client.close()
