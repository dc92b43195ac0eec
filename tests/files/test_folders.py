"""Folders: nested, named uniquely among siblings, never in a loop, deleted only when empty."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from tests.files.flow import (
    Client,
    artist_session,
    data_of,
    error_of,
    make_folder,
    uploaded,
)
from tests.uploads import PDF, PNG
from umbrella import keys
from umbrella.files.tables import Folder


async def folders(client: Client, headers: dict[str, str], query: str = "") -> list[dict[str, Any]]:
    page = await data_of(await client.get(f"/v1/files/folders{query}", headers=headers))
    items: list[dict[str, Any]] = page["items"]
    return items


async def test_folders_nest_and_list_flat_with_parents_and_counts(client: Client) -> None:
    _, headers = await artist_session(client)
    press = await make_folder(client, headers, "Press")
    photos = await make_folder(client, headers, "2025", parent=press["id"])
    await make_folder(client, headers, "Contracts")
    await uploaded(client, headers, PNG, "image/png", folder_id=press["id"])
    await uploaded(client, headers, PDF, "application/pdf", folder_id=press["id"])

    assert photos["parent_folder_id"] == press["id"]
    listed = await folders(client, headers)
    # by name, each with its parent: the client builds the tree
    assert [(f["name"], f["parent_folder_id"]) for f in listed] == [
        ("2025", press["id"]),
        ("Contracts", None),
        ("Press", None),
    ]
    by_name = {f["name"]: f for f in listed}
    assert (by_name["Press"]["file_count"], by_name["Press"]["folder_count"]) == (2, 1)
    assert by_name["Press"]["size_bytes"] == len(PNG) + len(PDF)
    assert (by_name["2025"]["file_count"], by_name["2025"]["folder_count"]) == (0, 0)

    assert [f["name"] for f in await folders(client, headers, "?parent_folder_id=root")] == [
        "Contracts",
        "Press",
    ]
    assert [
        f["name"] for f in await folders(client, headers, f"?parent_folder_id={press['id']}")
    ] == ["2025"]
    # pages by name, none repeated or skipped
    names, cursor = [], None
    while True:
        query = "?limit=1" + (f"&cursor={cursor}" if cursor else "")
        page = await data_of(await client.get(f"/v1/files/folders{query}", headers=headers))
        names += [f["name"] for f in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names == ["2025", "Contracts", "Press"]
    # another artist sees none of them
    _, other_headers = await artist_session(client, "Other")
    assert await folders(client, other_headers) == []
    missing = await client.get(
        f"/v1/files/folders?parent_folder_id={press['id']}", headers=other_headers
    )
    assert (await error_of(missing, 404))["field"] == "parent_folder_id"


async def test_folder_names_are_checked_and_unique_among_siblings(client: Client) -> None:
    _, headers = await artist_session(client)
    _, other_headers = await artist_session(client, "Other")
    press = await make_folder(client, headers, "Press")
    theirs = await make_folder(client, other_headers, "Theirs")

    # the same name elsewhere is fine: under another folder, or another artist's
    await make_folder(client, headers, "Press", parent=press["id"])
    await make_folder(client, other_headers, "Press")
    trimmed = await make_folder(client, headers, "  Live  ")
    assert trimmed["name"] == "Live"

    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"name": "Press"}, 409, "name"),
        ({"name": "Press", "parent_folder_id": press["id"]}, 409, "name"),
        ({"name": "a/b"}, 400, "name"),
        ({"name": "   "}, 400, "name"),
        ({"name": "tab\there"}, 400, "name"),
        ({"name": "x" * 256}, 400, "name"),
        ({}, 400, "name"),
        ({"name": "Sub", "parent_folder_id": theirs["id"]}, 404, "parent_folder_id"),
        ({"name": "Sub", "parent_folder_id": str(uuid4())}, 404, "parent_folder_id"),
    ]
    for body, status, field in cases:
        response = await client.post("/v1/files/folders", json=body, headers=headers)
        assert (await error_of(response, status))["field"] == field, body
    assert (await make_folder(client, headers, "x" * 255))["name"] == "x" * 255

    # a rename follows the same rules
    live = f"/v1/files/folders/{trimmed['id']}"
    assert (await error_of(await client.put(live, json={"name": "Press"}, headers=headers), 409))[
        "field"
    ] == "name"
    assert (await error_of(await client.put(live, json={"name": None}, headers=headers), 400))[
        "field"
    ] == "name"
    renamed = await data_of(await client.put(live, json={"name": "Live 2026"}, headers=headers))
    assert (renamed["name"], renamed["parent_folder_id"]) == ("Live 2026", None)


async def test_a_folder_moves_but_never_into_itself_or_below_itself(client: Client) -> None:
    _, headers = await artist_session(client)
    _, other_headers = await artist_session(client, "Other")
    a = await make_folder(client, headers, "A")
    b = await make_folder(client, headers, "B", parent=a["id"])
    c = await make_folder(client, headers, "C", parent=b["id"])
    other = await make_folder(client, headers, "Other")
    theirs = await make_folder(client, other_headers, "Theirs")

    for target in (a, b, c):  # itself, its child, its grandchild
        response = await client.put(
            f"/v1/files/folders/{a['id']}", json={"parent_folder_id": target["id"]}, headers=headers
        )
        error = await error_of(response, 400)
        assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "parent_folder_id")
    response = await client.put(
        f"/v1/files/folders/{a['id']}", json={"parent_folder_id": theirs["id"]}, headers=headers
    )
    assert (await error_of(response, 404))["field"] == "parent_folder_id"
    response = await client.put(
        f"/v1/files/folders/{theirs['id']}", json={"name": "Mine now"}, headers=headers
    )
    assert (await error_of(response, 404))["field"] == "folder_id"

    moved = await data_of(
        await client.put(
            f"/v1/files/folders/{c['id']}",
            json={"parent_folder_id": other["id"], "name": "C2"},
            headers=headers,
        )
    )
    assert (moved["parent_folder_id"], moved["name"]) == (other["id"], "C2")
    top = await data_of(
        await client.put(
            f"/v1/files/folders/{b['id']}", json={"parent_folder_id": None}, headers=headers
        )
    )
    assert top["parent_folder_id"] is None
    # B has left A: now A may go under B
    under = await data_of(
        await client.put(
            f"/v1/files/folders/{a['id']}", json={"parent_folder_id": b["id"]}, headers=headers
        )
    )
    assert under["parent_folder_id"] == b["id"]


async def test_two_concurrent_opposite_moves_never_make_a_loop(client: Client) -> None:
    _, headers = await artist_session(client)
    for _ in range(5):
        a = await make_folder(client, headers, f"A {uuid4().hex[:6]}")
        b = await make_folder(client, headers, f"B {uuid4().hex[:6]}")
        # A under B and B under A at once: each alone is fine, both would be a loop
        first, second = await asyncio.gather(
            client.put(
                f"/v1/files/folders/{a['id']}", json={"parent_folder_id": b["id"]}, headers=headers
            ),
            client.put(
                f"/v1/files/folders/{b['id']}", json={"parent_folder_id": a["id"]}, headers=headers
            ),
        )
        assert sorted([first.status, second.status]) == [200, 400]
        rows = await Folder.select(Folder.id, Folder.parent_folder_id).where(
            Folder.id.is_in([a["id"], b["id"]])
        )
        assert sum(row["parent_folder_id"] is None for row in rows) == 1


async def test_only_an_empty_folder_is_deleted(client: Client) -> None:
    _, headers = await artist_session(client)
    _, other_headers = await artist_session(client, "Other")
    with_file = await make_folder(client, headers, "With file")
    with_folder = await make_folder(client, headers, "With folder")
    child = await make_folder(client, headers, "Child", parent=with_folder["id"])
    photo = await uploaded(client, headers, PNG, "image/png", folder_id=with_file["id"])
    theirs = await make_folder(client, other_headers, "Theirs")

    for folder in (with_file, with_folder):
        response = await client.delete(f"/v1/files/folders/{folder['id']}", headers=headers)
        error = await error_of(response, 409)
        assert (error["code"], error["field"]) == ("CONFLICT", "folder_id")
    response = await client.delete(f"/v1/files/folders/{theirs['id']}", headers=headers)
    assert (await error_of(response, 404))["field"] == "folder_id"
    assert await Folder.count() == 4

    # emptied, they go
    await client.put(f"/v1/files/{photo['id']}/move", json={"folder_id": None}, headers=headers)
    for folder in (with_file, child, with_folder):
        deleted = await client.delete(f"/v1/files/folders/{folder['id']}", headers=headers)
        assert await data_of(deleted) == {"deleted": True}
    assert [f["name"] for f in await folders(client, headers)] == []
    found = await data_of(await client.get(f"/v1/files/{photo['id']}", headers=headers))
    assert found["folder_id"] is None


async def test_a_file_confirmed_while_its_folder_is_deleted_keeps_the_folder(
    client: Client,
) -> None:
    # A confirm does not take the tree lock; it holds its folder with KEY SHARE instead,
    # and files reference folders with NO ACTION: the delete fails rather than orphan it.
    artist_id, headers = await artist_session(client)
    folder = await make_folder(client, headers, "Busy")
    settings = client.app[keys.SETTINGS]
    confirming = await asyncpg.connect(str(settings.database_url))
    try:
        async with confirming.transaction():
            await confirming.execute(
                "SELECT id FROM folders WHERE id = $1 FOR KEY SHARE", UUID(folder["id"])
            )
            await confirming.execute(
                "INSERT INTO files (artist_id, folder_id, filename, s3_key, size_bytes,"
                " mime_type, category) VALUES ($1, $2, 'a.png', $3, 1, 'image/png', 'other')",
                artist_id,
                UUID(folder["id"]),
                f"files/{artist_id}/{folder['id']}/{uuid4()}.png",
            )
            deleting = asyncio.create_task(
                client.delete(f"/v1/files/folders/{folder['id']}", headers=headers)
            )
            await _until_someone_waits_for_a_lock(confirming)
        response = await deleting
    finally:
        await confirming.close()
    error = await error_of(response, 409)
    assert (error["code"], error["field"]) == ("CONFLICT", "folder_id")
    assert await Folder.count() == 1


async def _until_someone_waits_for_a_lock(connection: asyncpg.Connection) -> None:
    for _ in range(200):
        waiting = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the delete never waited for the confirm")
