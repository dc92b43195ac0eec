"""The file manager as a browser drives it: ask for an upload, POST it to S3, confirm."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.factories import bearer_for, make_artist
from tests.uploads import DOCX, HEIC, MOV, MP4, post_form
from umbrella import keys
from umbrella.core.storage import Storage
from umbrella.storage.tables import StorageQuota

Client = TestClient[web.Request, web.Application]

__all__ = ["DOCX", "HEIC", "MOV", "MP4"]  # the bodies the file tests take from here

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MB = 1024 * 1024


async def artist_session(
    client: Client, stage_name: str = "Luna Vega"
) -> tuple[UUID, dict[str, str]]:
    user_id, artist_id = await make_artist(stage_name=stage_name)
    return artist_id, await bearer_for(client.app, user_id)


def storage_of(client: Client) -> Storage:
    return client.app[keys.STORAGE]


async def keys_under(client: Client, prefix: str) -> list[str]:
    """Every object in the test's bucket whose key starts with `prefix`."""
    storage = storage_of(client)
    return sorted(
        [
            found.object_name
            async for found in storage.client.list_objects(
                storage.bucket, prefix=prefix, recursive=True
            )
            if found.object_name is not None
        ]
    )


async def data_of(response: aiohttp.ClientResponse, status: int = 200) -> Any:
    assert response.status == status, await response.text()
    return (await response.json())["data"]


async def error_of(response: aiohttp.ClientResponse, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    error: dict[str, Any] = (await response.json())["error"]
    return error


async def ticket_for(
    client: Client,
    headers: dict[str, str],
    body: bytes,
    content_type: str,
    *,
    filename: str = "press-shot.png",
    folder_id: UUID | str | None = None,
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "content_type": content_type,
        "size_bytes": len(body),
        "filename": filename,
    }
    if folder_id is not None:
        request["folder_id"] = str(folder_id)
    response = await client.post("/v1/files/upload", json=request, headers=headers)
    ticket: dict[str, Any] = await data_of(response, 201)
    return ticket


async def sent(ticket: dict[str, Any], body: bytes) -> None:
    status, text = await post_form(ticket["url"], ticket["fields"], body)
    assert status in (200, 201, 204), text


async def confirm(
    client: Client, headers: dict[str, str], upload_id: str, category: str | None = None
) -> aiohttp.ClientResponse:
    request = {"upload_id": upload_id}
    if category is not None:
        request["category"] = category
    return await client.post("/v1/files", json=request, headers=headers)


async def uploaded(
    client: Client,
    headers: dict[str, str],
    body: bytes,
    content_type: str,
    *,
    filename: str = "press-shot.png",
    folder_id: UUID | str | None = None,
    category: str | None = None,
) -> dict[str, Any]:
    """A file uploaded and confirmed, as the API answers it."""
    ticket = await ticket_for(
        client, headers, body, content_type, filename=filename, folder_id=folder_id
    )
    await sent(ticket, body)
    created: dict[str, Any] = await data_of(
        await confirm(client, headers, ticket["upload_id"], category), 201
    )
    assert created["id"] == ticket["file_id"]
    return created


async def make_folder(
    client: Client, headers: dict[str, str], name: str, parent: str | None = None
) -> dict[str, Any]:
    response = await client.post(
        "/v1/files/folders", json={"name": name, "parent_folder_id": parent}, headers=headers
    )
    folder: dict[str, Any] = await data_of(response, 201)
    return folder


async def used_bytes(artist_id: UUID) -> int:
    row = await StorageQuota.select().where(StorageQuota.artist_id == artist_id).first()
    return 0 if row is None else int(row["used_bytes"])


async def set_quota(artist_id: UUID, *, limit_bytes: int, used: int = 0) -> None:
    """Give the artist a quota of `limit_bytes` with `used` already taken."""
    await StorageQuota.raw(
        "INSERT INTO storage_quotas (artist_id, used_bytes, limit_bytes) VALUES ({}, {}, {})"
        " ON CONFLICT (artist_id) DO UPDATE SET used_bytes = EXCLUDED.used_bytes,"
        " limit_bytes = EXCLUDED.limit_bytes",
        artist_id,
        used,
        limit_bytes,
    )
