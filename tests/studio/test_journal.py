"""The journal as an artist keeps it: typed blocks, their own files, newest first."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import aiohttp
from openapi_spec_validator import validate

from tests.factories import bearer_for, make_user
from tests.studio.helpers import Client, artist_session, data_of, error_of, make_file
from umbrella.files.tables import File
from umbrella.studio.tables import JournalEntry

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


async def test_an_entry_is_written_read_with_links_replaced_and_deleted(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    image = await make_file(artist_id, "image/png", filename="Stage", body=PNG, client=client)
    audio = await make_file(artist_id, "audio/mpeg")
    video = await make_file(artist_id, "video/mp4")
    blocks: list[dict[str, Any]] = [
        {"type": "text", "content": "  Soundcheck ran long.\n\nNew hook idea:"},
        {"type": "image", "file_id": str(image), "caption": "the stage"},
        {"type": "audio", "file_id": str(audio)},
        {"type": "video", "file_id": str(video), "caption": "encore"},
    ]
    created = await data_of(
        await client.post(
            "/v1/journal",
            json={"title": " Friday at the Anchor ", "blocks": blocks},
            headers=headers,
        ),
        201,
    )
    assert created["title"] == "Friday at the Anchor"
    assert created["entry_type"] == "mixed"
    assert [block["type"] for block in created["blocks"]] == ["text", "image", "audio", "video"]
    assert created["blocks"][0]["content"] == blocks[0]["content"]  # kept as written

    found = await data_of(await client.get(f"/v1/journal/{created['id']}", headers=headers))
    shown = found["blocks"][1]
    assert (shown["file_id"], shown["caption"], shown["filename"], shown["mime_type"]) == (
        str(image),
        "the stage",
        "Stage",
        "image/png",
    )
    assert found["blocks"][0]["download_url"] is None
    async with aiohttp.ClientSession() as browser, browser.get(shown["download_url"]) as got:
        assert got.status == 200
        assert await got.read() == PNG
        # as the file manager serves it: its checked type, saved under its name
        assert got.headers["Content-Type"] == "image/png"
        assert got.headers["Content-Disposition"].startswith('attachment; filename="Stage.png"')

    # title only: the blocks stay
    renamed = await data_of(
        await client.put(f"/v1/journal/{created['id']}", json={"title": "Anchor"}, headers=headers)
    )
    assert renamed["title"] == "Anchor"
    assert len(renamed["blocks"]) == 4
    # blocks only: replaced as a whole
    replaced = await data_of(
        await client.put(
            f"/v1/journal/{created['id']}",
            json={"blocks": [{"type": "video", "file_id": str(video)}]},
            headers=headers,
        )
    )
    assert (replaced["title"], replaced["entry_type"]) == ("Anchor", "video")
    assert [block["file_id"] for block in replaced["blocks"]] == [str(video)]

    deleted = await data_of(await client.delete(f"/v1/journal/{created['id']}", headers=headers))
    assert deleted == {"deleted": True}
    missing = await client.get(f"/v1/journal/{created['id']}", headers=headers)
    assert (await error_of(missing, 404))["field"] == "entry_id"
    assert await File.count() == 3  # the files stay in the file manager


async def test_entries_are_listed_newest_first_page_by_page(client: Client) -> None:
    _, headers = await artist_session(client)
    _, other_headers = await artist_session(client, "Other")
    await client.post("/v1/journal", json={"title": "not mine"}, headers=other_headers)
    ids = []
    for number in range(5):
        body = {"title": f"Day {number}", "blocks": [{"type": "text", "content": f"day {number}"}]}
        entry = await data_of(await client.post("/v1/journal", json=body, headers=headers), 201)
        ids.append(entry["id"])

    seen: list[str] = []
    cursor = ""
    while True:
        page = await data_of(
            await client.get(f"/v1/journal?limit=2&cursor={cursor}", headers=headers)
        )
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert seen == ids[::-1]
    first = (await data_of(await client.get("/v1/journal", headers=headers)))["items"][0]
    assert (first["title"], first["block_count"], first["excerpt"], first["entry_type"]) == (
        "Day 4",
        1,
        "day 4",
        "text",
    )
    bad = await client.get("/v1/journal?cursor=nonsense", headers=headers)
    assert (await error_of(bad, 400))["field"] == "cursor"


async def test_an_unknown_or_untyped_block_is_refused_and_nothing_written(client: Client) -> None:
    _, headers = await artist_session(client)
    for bad_block in ({"type": "poll", "question": "?"}, {"content": "no type"}):
        body = {"title": "x", "blocks": [{"type": "text", "content": "ok"}, bad_block]}
        error = await error_of(await client.post("/v1/journal", json=body, headers=headers), 400)
        assert (error["code"], error["field"]) == ("VALIDATION_ERROR", "blocks.1.type")
    assert await JournalEntry.count() == 0


async def test_block_fields_are_named_by_their_position(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    image = str(await make_file(artist_id, "image/png"))
    cases = [
        ([{"type": "text", "content": "x" * 20_001}], "blocks.0.content"),
        ([{"type": "text", "content": ""}], "blocks.0.content"),
        ([{"type": "image", "file_id": image}, {"type": "image"}], "blocks.1.file_id"),
        ([{"type": "image", "file_id": "not-a-uuid"}], "blocks.0.file_id"),
        ([{"type": "image", "file_id": image, "caption": "c" * 501}], "blocks.0.caption"),
        ([{"type": "image", "file_id": image, "extra": 1}], "blocks.0.extra"),
        ([{"type": "text", "content": "x"}] * 201, "blocks"),
        ([], "blocks"),  # no title and no block: nothing to keep
    ]
    for blocks, field in cases:
        response = await client.post("/v1/journal", json={"blocks": blocks}, headers=headers)
        assert (await error_of(response, 400))["field"] == field, field
    assert await JournalEntry.count() == 0
    # a title alone, or blocks alone, is an entry
    await data_of(await client.post("/v1/journal", json={"title": "Idea"}, headers=headers), 201)
    text = [{"type": "text", "content": "x" * 20_000}]
    untitled = await data_of(
        await client.post("/v1/journal", json={"blocks": text}, headers=headers), 201
    )
    assert untitled["title"] == ""


async def test_media_blocks_take_only_the_artists_own_files_of_their_kind(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    other_id, _ = await artist_session(client, "Other")
    mine = await make_file(artist_id, "image/png")
    theirs = await make_file(other_id, "image/png")
    audio = await make_file(artist_id, "audio/mpeg")
    pdf = await make_file(artist_id, "application/pdf")
    cases = [
        ({"type": "image", "file_id": str(theirs)}, "No such file among yours."),
        ({"type": "image", "file_id": str(uuid4())}, "No such file among yours."),
        ({"type": "image", "file_id": str(audio)}, "This file is not an image file."),
        ({"type": "video", "file_id": str(pdf)}, "This file is not a video file."),
    ]
    for bad, message in cases:
        blocks = [
            {"type": "text", "content": "intro"},
            {"type": "image", "file_id": str(mine)},
            bad,
        ]
        response = await client.post("/v1/journal", json={"blocks": blocks}, headers=headers)
        error = await error_of(response, 400)
        assert (error["field"], error["message"]) == ("blocks.2.file_id", message)
    assert await JournalEntry.count() == 0

    # the same check on replace, and the entry stays as it was
    entry = await data_of(
        await client.post("/v1/journal", json={"title": "kept"}, headers=headers), 201
    )
    replace = {"blocks": [{"type": "image", "file_id": str(theirs)}]}
    response = await client.put(f"/v1/journal/{entry['id']}", json=replace, headers=headers)
    assert (await error_of(response, 400))["field"] == "blocks.0.file_id"
    kept = await data_of(await client.get(f"/v1/journal/{entry['id']}", headers=headers))
    assert (kept["title"], kept["blocks"]) == ("kept", [])


async def test_a_block_whose_file_was_deleted_is_shown_without_a_link(client: Client) -> None:
    artist_id, headers = await artist_session(client)
    image = await make_file(artist_id, "image/png")
    body = {"title": "t", "blocks": [{"type": "image", "file_id": str(image), "caption": "gone"}]}
    entry = await data_of(await client.post("/v1/journal", json=body, headers=headers), 201)
    await File.delete().where(File.id == image)
    shown = (await data_of(await client.get(f"/v1/journal/{entry['id']}", headers=headers)))[
        "blocks"
    ][0]
    assert (shown["file_id"], shown["caption"]) == (str(image), "gone")
    assert shown["download_url"] is None
    assert shown["filename"] is None


async def test_another_artists_entry_is_not_found_and_venues_are_refused(client: Client) -> None:
    _, headers = await artist_session(client)
    _, other_headers = await artist_session(client, "Other")
    entry = await data_of(
        await client.post("/v1/journal", json={"title": "private"}, headers=headers), 201
    )
    path = f"/v1/journal/{entry['id']}"
    for response in (
        await client.get(path, headers=other_headers),
        await client.put(path, json={"title": "mine now"}, headers=other_headers),
        await client.delete(path, headers=other_headers),
    ):
        assert (await error_of(response, 404))["field"] == "entry_id"
    assert (await data_of(await client.get(path, headers=headers)))["title"] == "private"

    venue = await bearer_for(client.app, await make_user(role="venue"))
    assert (await error_of(await client.get("/v1/journal", headers=venue), 403))["code"] == (
        "FORBIDDEN"
    )
    no_profile = await bearer_for(client.app, await make_user(role="artist"))
    refused = await client.post("/v1/journal", json={"title": "x"}, headers=no_profile)
    assert (await error_of(refused, 404))["field"] == "onboarding"
    await error_of(await client.get("/v1/journal"), 401)


async def test_an_update_needs_something_to_change(client: Client) -> None:
    _, headers = await artist_session(client)
    entry = await data_of(
        await client.post("/v1/journal", json={"title": "only a title"}, headers=headers), 201
    )
    path = f"/v1/journal/{entry['id']}"
    assert (await error_of(await client.put(path, json={}, headers=headers), 400))["field"] == (
        "body"
    )
    # emptying the only content would leave an empty entry
    emptied = await client.put(path, json={"title": ""}, headers=headers)
    assert (await error_of(emptied, 400))["field"] == "title"
    assert (await error_of(await client.put(path, json={"blocks": None}, headers=headers), 400))[
        "field"
    ] == "blocks"


async def test_the_studio_routes_are_in_the_openapi_document(client: Client) -> None:
    spec = await (await client.get("/v1/openapi.json")).json()
    validate(spec)
    assert set(spec["paths"]["/v1/journal/{entry_id}"]) >= {"get", "put", "delete"}
    assert set(spec["paths"]["/v1/analytics/goals/{goal_id}"]) >= {"put", "delete"}
    assert set(spec["paths"]["/v1/analytics/goals"]) >= {"get", "post"}
