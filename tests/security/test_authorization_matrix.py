"""Each route that names a resource, called as stranger, other party, owner and anonymously.

A stranger gets 404 (403 where the code documents it) and never the resource's data; the
other party gets what SPEC §3 allows; the owner succeeds. The router is enumerated so that a
new route with a path parameter and no row (or exemption) in tests/security/matrix.py fails.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from aiohttp import web
from redis.asyncio import Redis

from tests.conftest import Servers, create_database, drop_database, make_settings, start_client
from tests.security.matrix import EXEMPT, ROWS, Row
from tests.security.world import (
    ANONYMOUS,
    SECRET_FAN_EMAIL,
    SECRET_FILENAME,
    SECRET_FOLDER,
    SECRET_LIST,
    SECRET_MESSAGE,
    Client,
    Person,
    Scene,
    World,
    build_world,
    stored_file,
)

CASES = [pytest.param(row, role, id=row.case_id(role)) for row in ROWS for role in row.roles()]
REFUSALS = {401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND"}


@pytest.fixture(scope="module")
async def matrix_client(servers: Servers, template_database: str) -> AsyncIterator[Client]:
    """One API, database and bucket for the whole matrix (rows that destroy make their own)."""
    from umbrella.app import create_app

    name = await create_database(servers, template=template_database)
    redis = Redis.from_url(servers.redis_url)
    await redis.flushdb()
    await redis.aclose()
    client = await start_client(
        create_app(make_settings(servers, database_url=servers.database_url(name)))
    )
    try:
        yield client
    finally:
        await client.close()
        await drop_database(servers, name)


@pytest.fixture(scope="module")
async def world(matrix_client: Client) -> World:
    return await build_world(matrix_client)


def _person(scene: Scene, role: str) -> Person:
    people = {"owner": scene.owner, "other": scene.other, "stranger": scene.stranger}
    person = people.get(role, ANONYMOUS)
    assert person is not None, role
    return person


async def _call(client: Client, row: Row, scene: Scene, person: Person) -> aiohttp.ClientResponse:
    path = row.path.format(**scene.ids)
    return await client.request(
        row.method,
        path,
        json=dict(row.body) if row.body is not None else None,
        headers=person.headers,
    )


@pytest.mark.parametrize(("row", "role"), CASES)
async def test_authorization(matrix_client: Client, world: World, row: Row, role: str) -> None:
    scene = await row.scene(world)
    person = _person(scene, role)
    expected = row.expected(role)

    response = await _call(matrix_client, row, scene, person)

    text = await response.text()
    assert response.status == expected, f"{person.name}: {text}"
    body = await response.json()
    assert body["success"] is (200 <= expected < 300), text
    if expected in REFUSALS:
        assert body["error"]["code"] == REFUSALS[expected], text
    outsider = role in ("stranger", "anonymous") or (role == "other" and not scene.other_is_party)
    if role != "owner" and (expected in REFUSALS or outsider):
        leaked = [secret for secret in scene.secrets if secret in text]
        assert not leaked, f"{person.name} read {leaked}: {text}"
    if role == "owner" and row.method == "GET" and not row.public and scene.secrets:
        # The secrets are what the owner reads here, so their absence above means something.
        assert any(secret in text for secret in scene.secrets), text
    if row.fresh and expected in REFUSALS and row.owner is not None:
        # The refused call changed nothing: the owner's own call still does what it should.
        after = await _call(matrix_client, row, scene, scene.owner)
        assert after.status == row.owner, await after.text()


def _methods(route: web.AbstractRoute) -> set[str]:
    handler = route.handler
    if route.method == "*" and inspect.isclass(handler):
        allowed = getattr(handler, "allowed_methods", None)
        if allowed is None:  # a plain web.View: the methods it defines
            allowed = {
                m for m in ("GET", "POST", "PUT", "PATCH", "DELETE") if hasattr(handler, m.lower())
            }
        return set(allowed) - {"HEAD", "OPTIONS"}
    return {route.method} - {"HEAD", "OPTIONS"}


def _routes(app: web.Application) -> Iterator[tuple[str, str]]:
    """(method, canonical path) of every route, those of sub-apps included."""
    for resource in app.router.resources():
        if isinstance(resource, web.PrefixedSubAppResource):
            yield from _routes(resource.get_info()["app"])
            continue
        for route in resource:
            for method in _methods(route):
                yield method, resource.canonical


def test_every_route_with_a_path_parameter_has_a_row_or_an_exemption(matrix_client: Client) -> None:
    found = {route for route in _routes(matrix_client.app) if "{" in route[1]}
    covered = {row.key for row in ROWS if row.owner is not None} | set(EXEMPT)

    missing = sorted(found - covered)
    stale = sorted(covered - found)

    assert not missing, (
        f"routes with an id parameter but no row in tests/security/matrix.py: {missing}"
    )
    assert not stale, f"rows or exemptions for routes the app does not have: {stale}"
    assert all(reason.strip() for reason in EXEMPT.values())


# Ids of the owner's resources named in the body of a stranger's own request (no path id).
BODY_REFERENCES = [
    pytest.param(
        "PUT",
        "/v1/files/{stranger_file_id}/move",
        {"folder_id": "{folder_id}"},
        (404, "folder_id"),
        id="file into their folder",
    ),
    pytest.param(
        "POST",
        "/v1/broadcast/preview",
        {"list_ids": ["{list_id}"], "channels": "email", "subject": "Hi", "body": "Hi"},
        (404, "list_ids"),
        id="broadcast to their list",
    ),
    pytest.param(
        "POST",
        "/v1/messages/attachment",
        {
            "conversation_id": "{conversation_id}",
            "content_type": "image/png",
            "size_bytes": 100,
            "filename": "x.png",
        },
        (404, "conversation_id"),
        id="attachment into their conversation",
    ),
    pytest.param(
        "POST",
        "/v1/journal",
        {"title": "Mine", "blocks": [{"type": "image", "file_id": "{image_file_id}"}]},
        # Documented as a validation error of the block: "No such file among yours."
        (400, "blocks.0.file_id"),
        id="journal block with their file",
    ),
]


def _filled(value: object, ids: dict[str, str]) -> object:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, list):
        return [_filled(item, ids) for item in value]
    if isinstance(value, dict):
        return {key: _filled(item, ids) for key, item in value.items()}
    return value


@pytest.mark.parametrize(("method", "path", "body", "refused"), BODY_REFERENCES)
async def test_a_stranger_cannot_name_the_owners_resources_in_a_body(
    matrix_client: Client,
    world: World,
    method: str,
    path: str,
    body: dict[str, object],
    refused: tuple[int, str],
) -> None:
    ids = {**world.ids, "stranger_file_id": await stored_file(world, owner=world.stranger_artist)}

    response = await matrix_client.request(
        method, path.format(**ids), json=_filled(body, ids), headers=world.stranger_artist.headers
    )

    text = await response.text()
    assert (response.status, (await response.json())["error"]["field"]) == refused, text
    for secret in (SECRET_FOLDER, SECRET_LIST, SECRET_MESSAGE, SECRET_FILENAME, SECRET_FAN_EMAIL):
        assert secret not in text
