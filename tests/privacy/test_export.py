"""`GET /v1/settings/export`: every row of the caller's, from every table, and nobody else's."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.privacy.world import build_world, insert, new_id, sql, user_data_tables
from umbrella import keys
from umbrella.privacy.schemas import ExportOut

Client = TestClient[web.Request, web.Application]


def rows_of(section: Any) -> list[dict[str, Any]]:
    """The rows of one key of the export: a list, or lists by relation (received, written…)."""
    if isinstance(section, list):
        return section
    return [row for part in section.values() for row in part]


async def export(client: Client, headers: dict[str, str]) -> tuple[dict[str, Any], str]:
    response = await client.get("/v1/settings/export", headers=headers)
    text = await response.text()
    assert response.status == 200, text
    return json.loads(text), text


async def test_every_table_holding_user_data_is_exported(client: Client) -> None:
    """Fails when a table gains a foreign-key path to users but not a key in the export."""
    world = await build_world(client.app, client.app[keys.STORAGE])
    body, _ = await export(client, world.s.headers)
    data = body["data"]
    tables = user_data_tables()
    assert {"users", "artists", "notifications", "broadcast_deliveries"} <= tables
    assert tables - set(data) == set(), "tables missing from the export"
    # The documented shape is the streamed one.
    assert set(data) == set(ExportOut.model_fields)
    # S holds rows in every table, and gets them.
    for table in tables:
        section = data[table]
        if isinstance(section, dict):
            for part, rows in section.items():
                assert rows, f"{table}.{part} is empty"
        assert rows_of(section), f"{table} is empty"


async def test_the_export_holds_all_of_mine_and_nothing_of_anyone_else(client: Client) -> None:
    world = await build_world(client.app, client.app[keys.STORAGE])
    s, o = world.s, world.o
    response = await client.get("/v1/settings/export", headers=s.headers)
    text = await response.text()
    body = json.loads(text)

    assert response.headers["Content-Disposition"].startswith(
        'attachment; filename="umbrella-export-'
    )
    assert response.headers["Content-Disposition"].endswith('.json"')
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Request-ID"] == body["meta"]["request_id"]
    assert body["success"] is True
    assert body["meta"]["version"] == "v1"
    data = body["data"]

    for table, ids in s.own.items():
        exported = rows_of(data[table])
        if table == "sessions":
            assert len(exported) == len(ids)
            continue
        for row_id in ids:
            assert row_id in text, f"{table} row {row_id} missing"
    # Others' ids only where they are part of my data (the artist I follow, a gig I played);
    # rows keyed by their artist's id (quota, view counts) are checked through the values.
    referenced = {"users", "artists", "gigs", "storage_quotas", "profile_view_counts"}
    referenced |= {"track_play_counts"}
    for table, ids in o.own.items():
        if table in referenced:
            continue
        for row_id in ids:
            assert row_id not in text, f"{table} row {row_id} of another user leaked"
    for private in (o.email, o.phone, world.v.email, world.v.phone):
        assert private
        assert private not in text
    assert [row["artist_id"] for row in data["storage_quotas"]] == [str(s.artist_id)]
    assert [row["artist_id"] for row in data["profile_view_counts"]] == [str(s.artist_id)]

    [user] = data["users"]
    assert user["id"] == str(s.user_id)
    assert user["email"] == s.email
    assert user["phone"] == s.phone
    [artist] = data["artists"]
    assert artist["legal_name"] == "Sol Legal"
    # Secrets never leave: token hashes of sessions and invitations.
    assert all("token_hash" not in row for row in data["sessions"])
    assert all("token_hash" not in row for row in data["review_invitations"])
    for hashes in await sql(
        "SELECT token_hash FROM sessions UNION ALL SELECT token_hash FROM review_invitations"
    ):
        assert hashes["token_hash"] not in text
    # Reviewers' emails are theirs; my own reviews of others are mine.
    assert all("reviewer_email" not in row for row in data["reviews"]["received"])
    assert [row["reviewer_email"] for row in data["reviews"]["written"]] == [s.email]
    # Values keep their types: JSON blocks, inet, arrays, numbers, UTC times.
    [entry] = data["journal_entries"]
    assert entry["blocks"] == [{"type": "text", "text": "a chorus"}]
    [member] = data["contact_list_members"]
    assert member["consent_ip"] == "203.0.113.7"
    assert artist["secondary_genres"] == []
    [track] = data["tracks"]
    assert track["play_count"] == 12
    assert track["file_key"].startswith(f"tracks/{s.artist_id}/")
    assert data["storage_quotas"][0]["used_bytes"] == 12
    assert user["created_at"].endswith("+00:00")
    # Files are listed by key, never by a signed link.
    assert "X-Amz-Signature" not in text
    # Both sides of the conversations I am in.
    senders = {row["sender_id"] for row in data["messages"]}
    assert senders == {str(s.user_id), str(o.user_id), str(world.v.user_id)}
    assert {row["follower_user_id"] for row in data["artist_followers"]["followers"]} == {
        str(o.user_id),
        str(world.v.user_id),
    }
    assert [row["artist_id"] for row in data["artist_followers"]["following"]] == [str(o.artist_id)]
    assert len(data["gig_applications"]["sent"]) == 4
    assert [row["artist_id"] for row in data["gig_applications"]["received"]] == [str(o.artist_id)]


async def test_a_venue_without_an_artist_profile_gets_empty_artist_sections(
    client: Client,
) -> None:
    world = await build_world(client.app, client.app[keys.STORAGE])
    body, _ = await export(client, world.v.headers)
    data = body["data"]
    assert data["artists"] == []
    assert data["tracks"] == []
    assert data["artist_followers"]["followers"] == []
    assert len(data["artist_followers"]["following"]) == 2
    assert len(data["gigs"]) == 3
    assert len(data["gig_applications"]["received"]) == 6
    assert len(data["venue_reviews"]["received"]) == 2


async def test_a_large_fan_list_comes_out_whole_and_compressed(client: Client) -> None:
    world = await build_world(client.app, client.app[keys.STORAGE])
    list_id = new_id()
    await insert("contact_lists", id=list_id, artist_id=world.s.artist_id, name="Big")
    members = 5000  # many chunks and cursor fetches
    await sql(
        "INSERT INTO contact_list_members (list_id, email, name, email_opt_in)"
        " SELECT {}, 'fan' || n || '@example.com', 'Fan ' || n, true"
        " FROM generate_series(1, {}) AS n",
        list_id,
        members,
    )
    response = await client.get(
        "/v1/settings/export", headers={**world.s.headers, "Accept-Encoding": "gzip"}
    )
    assert response.status == 200
    assert response.headers["Content-Encoding"] == "gzip"
    body = await response.json()
    emails = {row["email"] for row in body["data"]["contact_list_members"]}
    assert len(emails) == members + 1
    assert {"fan1@example.com", f"fan{members}@example.com"} <= emails


async def test_export_needs_a_session(client: Client) -> None:
    response = await client.get("/v1/settings/export")
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "UNAUTHORIZED"
