"""What the studio tests share: an artist's session and their files, written as the product does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.factories import bearer_for, make_artist
from umbrella import keys
from umbrella.files.tables import File

Client = TestClient[web.Request, web.Application]

EXTENSIONS = {"image/png": "png", "audio/mpeg": "mp3", "video/mp4": "mp4", "application/pdf": "pdf"}


async def artist_session(
    client: Client, stage_name: str = "Luna Vega", **fields: Any
) -> tuple[UUID, dict[str, str]]:
    user_id, artist_id = await make_artist(stage_name=stage_name, **fields)
    return artist_id, await bearer_for(client.app, user_id)


async def make_file(
    artist_id: UUID,
    mime_type: str,
    *,
    filename: str = "take",
    body: bytes | None = None,
    client: Client | None = None,
) -> UUID:
    """A confirmed file row of the artist's; with `body`, its object is really in the bucket."""
    file_id = uuid.uuid4()
    key = f"files/{artist_id}/root/{file_id}.{EXTENSIONS[mime_type]}"
    if body is not None:
        assert client is not None
        url = await client.app[keys.STORAGE].presigned_put(key)
        async with aiohttp.ClientSession() as browser, browser.put(url, data=body) as put:
            assert put.status == 200, await put.text()
    now = datetime.now(UTC)
    await File.insert(
        File(
            id=file_id,
            artist_id=artist_id,
            filename=filename,
            s3_key=key,
            size_bytes=len(body or b"x"),
            mime_type=mime_type,
            category="other",
            created_at=now,
            updated_at=now,
        )
    )
    return file_id


async def data_of(response: aiohttp.ClientResponse, status: int = 200) -> Any:
    assert response.status == status, await response.text()
    return (await response.json())["data"]


async def error_of(response: aiohttp.ClientResponse, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    error: dict[str, Any] = (await response.json())["error"]
    return error
