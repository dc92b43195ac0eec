"""The shared upload flow against real S3 and Postgres: sign, upload, verify by content, consume."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.factories import make_artist
from tests.uploads import (
    DOCX,
    FLAC,
    HEIC,
    JPEG,
    MOV,
    MP3,
    MP4,
    PDF,
    PNG,
    PNG_HEADER,
    WAV,
    png_chunk,
    post_form,
)
from umbrella import keys
from umbrella.core import content
from umbrella.core.errors import NotFound, PayloadTooLarge, QuotaExceeded, ValidationFailed
from umbrella.core.storage import Storage
from umbrella.observability.metrics import Metrics
from umbrella.piccolo_conf import DB
from umbrella.storage import service as storage_service
from umbrella.storage import uploads
from umbrella.storage.tables import PendingUpload, StorageQuota

Client = TestClient[web.Request, web.Application]

DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
BODIES = {
    "image/jpeg": JPEG,
    "image/png": PNG,
    "image/heic": HEIC,
    "audio/mpeg": MP3,
    "audio/wav": WAV,
    "audio/flac": FLAC,
    "video/mp4": MP4,
    "video/quicktime": MOV,
    "application/pdf": PDF,
    DOCX_MIME: DOCX,
}


@pytest.mark.parametrize("mime", sorted(BODIES))
def test_each_accepted_type_shows_in_its_bytes_and_no_other(mime: str) -> None:
    body = BODIES[mime]
    assert content.head_ok(body, mime)
    others = [other for other, other_body in BODIES.items() if content.head_ok(other_body, mime)]
    assert others == [mime]


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"GIF89a" + bytes(10), "image/png"),
        (b"<html><script>", "image/png"),
        (b"", "application/pdf"),
        # A PNG signature, then markup: no IHDR.
        (PNG[:8] + b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "image/png"),
        # A valid IHDR, then HTML where the next chunk should be.
        (PNG_HEADER + b"<html><script>alert(1)</script></html>", "image/png"),
        # An IHDR whose CRC does not match its data.
        (PNG[:29] + b"\x00\x00\x00\x00" + PNG[33:], "image/png"),
        (PNG_HEADER[:8] + png_chunk(b"IHDR", bytes(13)) + PNG[33:], "image/png"),
        # JPEG: SOI, then markup instead of a segment; an APP0 that is not JFIF.
        (b"\xff\xd8\xff<html><script>alert(1)</script>", "image/jpeg"),
        (b"\xff\xd8\xff\xe0\x00\x10<html><body>" + bytes(40), "image/jpeg"),
        # A segment whose length runs past the data, or is not followed by a marker.
        (JPEG[:20] + b"<html>" + JPEG[26:], "image/jpeg"),
        (b"\x00\x00\x00\x18ftypheic" + bytes(600), "image/heic"),
        (b"\x00\x00\x00\x18ftypisom<html><script>alert(1)</script>", "video/mp4"),
    ],
)
def test_headers_that_do_not_hold_up_are_refused(head: bytes, mime: str) -> None:
    assert not content.head_ok(head, mime)


def test_declared_types_are_checked_against_the_kinds_a_purpose_accepts() -> None:
    assert uploads.media_type("image/JPG", kinds=("image",)).mime == "image/jpeg"
    assert uploads.media_type("audio/x-wav; codecs=1", kinds=("audio",)).mime == "audio/wav"
    with pytest.raises(ValidationFailed) as refused:
        uploads.media_type("application/pdf", kinds=("image",))
    assert refused.value.field == "content_type"
    assert "JPG, PNG, HEIC" in refused.value.message
    with pytest.raises(ValidationFailed):
        uploads.media_type("image/gif", kinds=("image",))


@pytest.fixture
async def storage(client: Client) -> Storage:
    return client.app[keys.STORAGE]


async def _start(
    storage: Storage, user_id: uuid.UUID, body: bytes, mime: str
) -> uploads.UploadTicket:
    media = uploads.media_type(mime, kinds=("image", "audio"))
    return await uploads.start(
        storage=storage,
        metrics=Metrics(),
        user_id=user_id,
        purpose="track",
        key=f"tracks/{uuid.uuid4()}/{uuid.uuid4()}.{media.extension}",
        media=media,
        size_bytes=len(body),
        filename="song",
    )


async def _verify(
    storage: Storage, user_id: uuid.UUID, ticket: uploads.UploadTicket, purpose: uploads.Purpose
) -> uploads.VerifiedUpload:
    return await uploads.verify(
        storage=storage,
        metrics=Metrics(),
        user_id=user_id,
        upload_id=ticket.upload_id,
        purpose=purpose,
    )


async def test_a_real_upload_verifies_and_is_consumed_once(storage: Storage) -> None:
    user_id, _ = await make_artist()
    ticket = await _start(storage, user_id, MP3, "audio/mpeg")
    assert ticket.fields["key"] == ticket.key == f"uploads/{ticket.upload_id}.mp3"
    assert ticket.target_key.startswith("tracks/")
    status, text = await post_form(ticket.url, ticket.fields, MP3)
    assert status in (200, 201, 204), text

    verified = await _verify(storage, user_id, ticket, "track")
    assert (verified.size_bytes, verified.mime_type, verified.filename) == (
        len(MP3),
        "audio/mpeg",
        "song",
    )
    async with DB.transaction():
        await uploads.consume(upload_id=ticket.upload_id)
    with pytest.raises(NotFound):
        await uploads.consume(upload_id=ticket.upload_id)
    # What is kept is the sealed copy; the upload itself is gone.
    assert verified.key == ticket.target_key
    assert await storage.stat(ticket.target_key) is not None
    assert await storage.stat(ticket.key) is None


async def test_verify_refuses_other_users_and_purposes(storage: Storage) -> None:
    user_id, _ = await make_artist()
    other_id, _ = await make_artist(stage_name="Other")
    ticket = await _start(storage, user_id, MP3, "audio/mpeg")
    with pytest.raises(NotFound):
        await _verify(storage, other_id, ticket, "track")
    with pytest.raises(NotFound):
        await _verify(storage, user_id, ticket, "avatar")


async def test_nothing_uploaded_yet_keeps_the_pending_upload(storage: Storage) -> None:
    user_id, _ = await make_artist()
    ticket = await _start(storage, user_id, MP3, "audio/mpeg")
    with pytest.raises(ValidationFailed) as refused:
        await _verify(storage, user_id, ticket, "track")
    assert refused.value.field == "upload_id"
    assert await PendingUpload.count().where(PendingUpload.id == ticket.upload_id) == 1


async def test_content_that_is_not_the_declared_type_is_deleted(storage: Storage) -> None:
    user_id, _ = await make_artist()
    ticket = await _start(storage, user_id, PDF, "audio/mpeg")
    status, _ = await post_form(ticket.url, ticket.fields, PDF)
    assert status in (200, 201, 204)
    with pytest.raises(ValidationFailed) as refused:
        await _verify(storage, user_id, ticket, "track")
    assert refused.value.field == "file"
    assert await storage.stat(ticket.key) is None
    assert await PendingUpload.count().where(PendingUpload.id == ticket.upload_id) == 0


async def test_an_expired_upload_is_removed(storage: Storage) -> None:
    user_id, _ = await make_artist()
    ticket = await _start(storage, user_id, WAV, "audio/wav")
    status, _ = await post_form(ticket.url, ticket.fields, WAV)
    assert status in (200, 201, 204)
    await PendingUpload.update(
        {
            PendingUpload.created_at: datetime.now(UTC) - timedelta(hours=1),
            PendingUpload.expires_at: datetime.now(UTC) - timedelta(minutes=1),
        }
    ).where(PendingUpload.id == ticket.upload_id)
    with pytest.raises(ValidationFailed):
        await _verify(storage, user_id, ticket, "track")
    assert await storage.stat(ticket.key) is None


async def test_the_store_refuses_a_body_larger_than_declared(storage: Storage) -> None:
    user_id, _ = await make_artist()
    ticket = await _start(storage, user_id, FLAC, "audio/flac")
    status, text = await post_form(ticket.url, ticket.fields, FLAC + b"x")
    assert status == 400
    assert "EntityTooLarge" in text


async def test_start_refuses_sizes_over_the_type_limit_and_writes_nothing(storage: Storage) -> None:
    user_id, _ = await make_artist()
    media = uploads.media_type("image/png", kinds=("image",))
    with pytest.raises(PayloadTooLarge) as refused:
        await uploads.start(
            storage=storage,
            metrics=Metrics(),
            user_id=user_id,
            purpose="avatar",
            key="profiles/x/avatar.png",
            media=media,
            size_bytes=10 * 1024 * 1024 + 1,
        )
    assert refused.value.field == "size_bytes"
    assert await PendingUpload.count() == 0


async def test_quota_is_atomic_under_concurrent_reservations(client: Client) -> None:
    import asyncio

    _, artist_id = await make_artist()
    await storage_service.reserve_storage(artist_id=artist_id, size_bytes=0)
    await StorageQuota.update({StorageQuota.limit_bytes: 1000}).where(
        StorageQuota.artist_id == artist_id
    )

    async def reserve() -> bool:
        try:
            async with DB.transaction():
                await storage_service.reserve_storage(artist_id=artist_id, size_bytes=100)
        except QuotaExceeded:
            return False
        return True

    results = await asyncio.gather(*(reserve() for _ in range(15)))
    assert results.count(True) == 10
    assert await storage_service.remaining_storage(artist_id=artist_id) == 0
    await storage_service.release_storage(artist_id=artist_id, size_bytes=300)
    assert await storage_service.remaining_storage(artist_id=artist_id) == 300
