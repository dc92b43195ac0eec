"""Sessions as a client lives them: sign in, use, survive a Redis outage, sign out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from tests.conftest import start_client
from tests.factories import make_user
from umbrella import keys
from umbrella.accounts.service import cache_key, hash_token
from umbrella.accounts.tables import Session, User
from umbrella.app import create_app
from umbrella.config import Environment, Settings
from umbrella.devstack import DevStack

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def dev_client(settings: Settings) -> AsyncIterator[Client]:
    client = await start_client(
        create_app(settings.model_copy(update={"env": Environment.DEVELOPMENT}))
    )
    yield client
    await client.close()


async def sign_in(client: Client, email: str) -> str:
    response = await client.post("/v1/auth/dev-login", json={"email": email})
    assert response.status == 200, await response.text()
    token: str = (await response.json())["data"]["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_dev_login_opens_a_session_usable_by_bearer_and_cookie(dev_client: Client) -> None:
    async with dev_client.app[keys.DB].transaction():
        user_id = await make_user(email="luna@example.com")
    response = await dev_client.post("/v1/auth/dev-login", json={"email": "LUNA@example.com"})
    body = await response.json()
    assert response.status == 200
    token = body["data"]["token"]
    assert body["data"]["session"]["user"]["id"] == str(user_id)
    # no artist profile yet: onboarding starts with the choice of role (D-006)
    assert body["data"]["session"]["next_step"] == "role"
    cookie = response.cookies[dev_client.app[keys.SETTINGS].session_cookie_name]
    assert cookie.value == token
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"

    by_bearer = await dev_client.get("/v1/auth/session", headers=bearer(token))
    assert by_bearer.status == 200
    # the cookie jar of the client carries the cookie from the sign-in
    by_cookie = await dev_client.get("/v1/auth/session")
    assert by_cookie.status == 200
    assert (await by_cookie.json())["data"]["user"]["email"] == "luna@example.com"


async def test_only_the_hash_of_a_token_is_stored(dev_client: Client, redis_client: Redis) -> None:
    await make_user(email="hash@example.com")
    token = await sign_in(dev_client, "hash@example.com")
    rows = await Session.select(Session.token_hash)
    assert [row["token_hash"] for row in rows] == [hash_token(token)]
    assert await redis_client.exists(cache_key(hash_token(token)))
    assert not await redis_client.exists(f"session:{token}")
    ttl = await redis_client.ttl(cache_key(hash_token(token)))
    assert 7 * 86400 - 60 < ttl <= 7 * 86400


async def test_delete_session_revokes_only_this_device(dev_client: Client) -> None:
    await make_user(email="two@example.com")
    phone = await sign_in(dev_client, "two@example.com")
    laptop = await sign_in(dev_client, "two@example.com")
    revoked = await dev_client.delete("/v1/auth/session", headers=bearer(phone))
    assert revoked.status == 200
    assert (await revoked.json())["data"] == {"revoked": 1}
    assert (await dev_client.get("/v1/auth/session", headers=bearer(phone))).status == 401
    assert (await dev_client.get("/v1/auth/session", headers=bearer(laptop))).status == 200


async def test_logout_revokes_every_session_of_the_user(dev_client: Client) -> None:
    await make_user(email="all@example.com")
    await make_user(email="other@example.com")
    tokens = [await sign_in(dev_client, "all@example.com") for _ in range(3)]
    other = await sign_in(dev_client, "other@example.com")
    response = await dev_client.post("/v1/auth/logout", headers=bearer(tokens[0]))
    assert (await response.json())["data"] == {"revoked": 3}
    for token in tokens:
        assert (await dev_client.get("/v1/auth/session", headers=bearer(token))).status == 401
    assert (await dev_client.get("/v1/auth/session", headers=bearer(other))).status == 200


async def test_revocation_queues_a_purge_of_the_redis_copy(
    dev_client: Client, redis_client: Redis
) -> None:
    await make_user(email="purge@example.com")
    token = await sign_in(dev_client, "purge@example.com")
    await dev_client.delete("/v1/auth/session", headers=bearer(token))
    queued = await dev_client.app[keys.DB].run_ddl(
        "SELECT entrypoint, convert_from(payload, 'UTF8') AS payload FROM pgqueuer"
    )
    assert [row["entrypoint"] for row in queued] == ["purge_session_cache"]
    assert hash_token(token) in queued[0]["payload"]
    assert not await redis_client.exists(cache_key(hash_token(token)))


async def test_expired_session_is_refused(dev_client: Client, redis_client: Redis) -> None:
    await make_user(email="old@example.com")
    token = await sign_in(dev_client, "old@example.com")
    past = datetime.now(UTC) - timedelta(seconds=1)
    await Session.update(
        {Session.expires_at: past, Session.created_at: past - timedelta(days=7)}
    ).where(Session.token_hash == hash_token(token))
    await redis_client.delete(cache_key(hash_token(token)))
    response = await dev_client.get("/v1/auth/session", headers=bearer(token))
    assert response.status == 401


async def test_dev_login_does_not_exist_outside_development(client: Client) -> None:
    await make_user(email="prod@example.com")
    response = await client.post("/v1/auth/dev-login", json={"email": "prod@example.com"})
    assert response.status == 404


async def test_sessions_survive_a_redis_outage_through_postgres(
    settings: Settings, own_redis: DevStack
) -> None:
    dev = settings.model_copy(
        update={"env": Environment.DEVELOPMENT, "redis_url": own_redis.endpoints.redis_url}
    )
    client = await start_client(create_app(dev))
    try:
        user_id: UUID = await make_user(email="outage@example.com")
        token = await sign_in(client, "outage@example.com")
        own_redis.processes["redis"].stop()

        during = await client.get("/v1/auth/session", headers=bearer(token))
        assert during.status == 200
        assert (await during.json())["data"]["user"]["id"] == str(user_id)
        # new sign-ins work too, kept in Postgres only
        fresh = await sign_in(client, "outage@example.com")
        assert (await client.get("/v1/auth/session", headers=bearer(fresh))).status == 200
        # and revocation is honoured with Redis down
        await client.delete("/v1/auth/session", headers=bearer(fresh))
        assert (await client.get("/v1/auth/session", headers=bearer(fresh))).status == 401

        own_redis.restart("redis")
        after = await client.get("/v1/auth/session", headers=bearer(token))
        assert after.status == 200
        metrics = await (await client.get("/metrics")).text()
        assert 'umbrella_cache_requests_total{cache="session",result="error"}' in metrics
    finally:
        await client.close()


async def test_dev_login_can_make_a_new_user_to_walk_onboarding(dev_client: Client) -> None:
    unknown = await dev_client.post("/v1/auth/dev-login", json={"email": "new@example.com"})
    assert unknown.status == 404
    assert await User.count() == 0
    bad = await dev_client.post(
        "/v1/auth/dev-login", json={"user_id": str(uuid4()), "create": True}
    )
    assert bad.status == 400
    assert (await bad.json())["error"]["field"] == "body"

    first = await dev_client.post(
        "/v1/auth/dev-login", json={"email": "New@Example.com", "create": True}
    )
    assert first.status == 200, await first.text()
    session = (await first.json())["data"]["session"]
    assert session["user"]["email"] == "new@example.com"
    assert (session["onboarding_complete"], session["next_step"]) == (False, "role")
    again = await dev_client.post(
        "/v1/auth/dev-login", json={"email": "new@example.com", "create": True}
    )
    assert (await again.json())["data"]["session"]["user"]["id"] == session["user"]["id"]
    assert await User.count() == 1


async def test_dev_login_takes_the_demo_users_reserved_domain(dev_client: Client) -> None:
    # The demo data uses `.test` addresses, which strict email validation refuses.
    await make_user(email="luna@demo.umbrella.test")
    response = await dev_client.post(
        "/v1/auth/dev-login", json={"email": "luna@demo.umbrella.test"}
    )
    assert response.status == 200, await response.text()
    bad = await dev_client.post("/v1/auth/dev-login", json={"email": "not an email"})
    assert bad.status == 400
    assert (await bad.json())["error"]["field"] == "email"


async def test_the_role_is_null_until_the_person_chooses_one(dev_client: Client) -> None:
    signed_in = await dev_client.post(
        "/v1/auth/dev-login", json={"email": "newcomer@example.com", "create": True}
    )
    token = (await signed_in.json())["data"]["token"]
    before = await (await dev_client.get("/v1/auth/session", headers=bearer(token))).json()
    assert (before["data"]["user"]["role"], before["data"]["next_step"]) == (None, "role")

    chosen = await dev_client.post(
        "/v1/onboarding/role", json={"role": "artist"}, headers=bearer(token)
    )
    assert chosen.status == 200, await chosen.text()
    after = await (await dev_client.get("/v1/auth/session", headers=bearer(token))).json()
    assert (after["data"]["user"]["role"], after["data"]["next_step"]) == ("artist", "step1")


async def test_the_openapi_document_spells_out_roles_and_next_steps(client: Client) -> None:
    schemas = (await (await client.get("/v1/openapi.json")).json())["components"]["schemas"]
    session = schemas["SessionOut"]["properties"]["next_step"]
    user = schemas["UserOut"]["properties"]["role"]
    # OpenAPI 3.0.3: a nullable enum lists null among its values
    assert session["enum"] == ["role", "step1", "step2", "step3", "step4", "step5", None]
    assert session["nullable"] is True
    assert user["enum"] == ["artist", "venue", "admin", None]
    assert user["nullable"] is True
