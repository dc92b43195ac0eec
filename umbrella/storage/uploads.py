"""The upload flow every domain shares: sign a browser upload, seal and check what arrived.

1. `start` checks the declared type and size, records a `pending_uploads` row and signs a
   POST policy for a key under `uploads/` whose `content-length-range` makes the store
   itself refuse a bigger body.
2. The browser POSTs the file straight to S3.
3. `verify` seals the upload: it copies the object to its final key, which no upload form
   ever names, then checks the copy, not the upload (a form stays usable until it expires,
   so the upload can change after any check): its size, and its real type by content
   (`umbrella.core.content`; SPEC §3.5, ours: by content, not by the client's word). A bad
   copy is deleted with the upload. The object served and counted is that copy.
4. Inside the caller's transaction, `consume` takes the pending row (once: a second
   confirm of the same upload finds nothing), and the caller records what it made of it.

`delete_expired` removes expired, never-confirmed uploads (objects and row), and `sweep`
deletes every object under `uploads/` that no open upload is waiting for, such as an upload
posted again after its confirm. `start` and `verify` count each step in
`umbrella_uploads_total` (ok, rejected, failed).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from umbrella import jobs
from umbrella.core import content, db
from umbrella.core.errors import (
    AppError,
    DependencyUnavailable,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from umbrella.core.storage import ObjectNotFound, Storage
from umbrella.observability.metrics import Metrics
from umbrella.piccolo_conf import DB
from umbrella.storage.tables import PendingUpload
from umbrella.storage.tasks import DELETE_OBJECTS_JOB

log = logging.getLogger(__name__)

MediaKind = Literal["image", "audio", "video", "document"]
Purpose = Literal["avatar", "banner", "track", "file", "attachment"]
Step = Literal["start", "confirm"]

UPLOAD_EXPIRY = timedelta(minutes=15)  # SPEC §3.5
# Upload forms name keys under this prefix only; every final key lies outside it.
UPLOAD_PREFIX = "uploads/"
# How long an object under `uploads/` may outlive its form before `sweep` deletes it anyway.
SWEEP_MARGIN = timedelta(minutes=15)
MB = 1024 * 1024


@dataclass(frozen=True)
class MediaType:
    """One accepted file type: its canonical MIME type, extension, kind and size limit."""

    mime: str
    extension: str
    kind: MediaKind
    max_bytes: int


# SPEC §3.5: images JPG/PNG/HEIC ≤ 10 MB; audio MP3/WAV/FLAC ≤ 50 MB; video MP4/MOV ≤ 50 MB;
# documents PDF/DOCX ≤ 10 MB.
_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MEDIA_TYPES: dict[str, MediaType] = {
    media.mime: media
    for media in (
        MediaType("image/jpeg", "jpg", "image", 10 * MB),
        MediaType("image/png", "png", "image", 10 * MB),
        MediaType("image/heic", "heic", "image", 10 * MB),
        MediaType("audio/mpeg", "mp3", "audio", 50 * MB),
        MediaType("audio/wav", "wav", "audio", 50 * MB),
        MediaType("audio/flac", "flac", "audio", 50 * MB),
        MediaType("video/mp4", "mp4", "video", 50 * MB),
        MediaType("video/quicktime", "mov", "video", 50 * MB),
        MediaType("application/pdf", "pdf", "document", 10 * MB),
        MediaType(_DOCX, "docx", "document", 10 * MB),
    )
}
# Names browsers and tools also use for the same formats.
_ALIASES = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/heif": "image/heic",
    "audio/mp3": "audio/mpeg",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/x-flac": "audio/flac",
}


def media_type(content_type: str, *, kinds: tuple[MediaKind, ...]) -> MediaType:
    """The accepted type a client declared, or a 400 naming `content_type`."""
    mime = content_type.split(";", 1)[0].strip().lower()
    media = MEDIA_TYPES.get(_ALIASES.get(mime, mime))
    if media is None or media.kind not in kinds:
        allowed = ", ".join(m.extension.upper() for m in MEDIA_TYPES.values() if m.kind in kinds)
        raise ValidationFailed(
            f"This file type is not accepted here. Use {allowed}.", field="content_type"
        )
    return media


@dataclass(frozen=True)
class UploadTicket:
    """What a client needs to upload: POST `fields` plus the file (last) to `url`.

    `key` is where the form writes (under `uploads/`); `target_key` where a confirm puts it.
    """

    upload_id: UUID
    url: str
    fields: dict[str, str]
    key: str
    target_key: str
    expires_at: datetime
    max_bytes: int


class UploadRequestIn(BaseModel):
    """Ask for an upload: the file's type and exact size (the store refuses a larger body)."""

    model_config = ConfigDict(extra="forbid")

    content_type: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)] = Field(
        max_length=100, description="The file's MIME type, e.g. `image/png` or `audio/mpeg`."
    )
    size_bytes: Annotated[int, Field(strict=True, ge=1)] = Field(
        description="The exact size of the file in bytes."
    )


class UploadTicketOut(BaseModel):
    """Where and how to upload: POST `fields`, then the file (last), as a multipart form."""

    upload_id: UUID = Field(description="Pass it to the confirm call once the file is up.")
    url: str = Field(description="POST a multipart form here: every field, then `file` last.")
    fields: dict[str, str]
    expires_at: datetime
    max_bytes: int

    @classmethod
    def of(cls, ticket: UploadTicket, **more: object) -> Self:
        return cls(
            upload_id=ticket.upload_id,
            url=ticket.url,
            fields=ticket.fields,
            expires_at=ticket.expires_at,
            max_bytes=ticket.max_bytes,
            **more,
        )


@dataclass(frozen=True)
class VerifiedUpload:
    """A sealed upload: its copy at `key`, which no form can write, checks out."""

    upload_id: UUID
    key: str
    size_bytes: int
    mime_type: str
    filename: str | None
    folder_id: UUID | None
    conversation_id: UUID | None


@asynccontextmanager
async def _counted(metrics: Metrics, purpose: Purpose, step: Step) -> AsyncIterator[None]:
    """Count one upload step: `ok`, `rejected` (a 4xx: the client's fault) or `failed` (ours)."""
    try:
        yield
    except AppError as error:
        outcome = "rejected" if error.status < 500 else "failed"
        metrics.uploads.labels(purpose, step, outcome).inc()
        raise
    except Exception:
        # Not BaseException: a cancelled request (the client went away) is neither outcome.
        metrics.uploads.labels(purpose, step, "failed").inc()
        raise
    metrics.uploads.labels(purpose, step, "ok").inc()


async def start(
    *,
    storage: Storage,
    metrics: Metrics,
    user_id: UUID,
    purpose: Purpose,
    key: str,
    media: MediaType,
    size_bytes: int,
    filename: str | None = None,
    folder_id: UUID | None = None,
    conversation_id: UUID | None = None,
    upload_id: UUID | None = None,
) -> UploadTicket:
    """Record a pending upload for `key` and sign the browser's POST of this type and size.

    The form writes `uploads/{upload_id}.{ext}`; the confirm copies it to `key`. `upload_id`
    is new unless given (a file's upload has its file's id, so a retried confirm can find
    what the first one made).
    """
    async with _counted(metrics, purpose, "start"):
        return await _start(
            upload_id=upload_id or uuid.uuid4(),
            storage=storage,
            user_id=user_id,
            purpose=purpose,
            key=key,
            media=media,
            size_bytes=size_bytes,
            filename=filename,
            folder_id=folder_id,
            conversation_id=conversation_id,
        )


async def _start(
    *,
    storage: Storage,
    user_id: UUID,
    purpose: Purpose,
    key: str,
    media: MediaType,
    size_bytes: int,
    filename: str | None,
    folder_id: UUID | None,
    conversation_id: UUID | None,
    upload_id: UUID,
) -> UploadTicket:
    if size_bytes < 1:
        raise ValidationFailed("The file is empty.", field="size_bytes")
    if size_bytes > media.max_bytes:
        raise PayloadTooLarge(
            f"The file is too large: {media.extension.upper()} files may be at most "
            f"{media.max_bytes // MB} MB.",
            field="size_bytes",
        )
    if key.startswith(UPLOAD_PREFIX):  # pragma: no cover - our own keys
        raise ValueError(f"a final key must lie outside {UPLOAD_PREFIX}: {key!r}")
    upload_key = f"{UPLOAD_PREFIX}{upload_id}.{media.extension}"
    # Signed first: a store that is down leaves no pending row behind.
    post = await storage.presigned_post(
        key=upload_key, content_type=media.mime, max_bytes=size_bytes, expires=UPLOAD_EXPIRY
    )
    now = datetime.now(UTC)
    await PendingUpload.insert(
        PendingUpload(
            id=upload_id,
            user_id=user_id,
            purpose=purpose,
            s3_key=upload_key,
            target_key=key,
            filename=filename,
            declared_mime=media.mime,
            declared_size=size_bytes,
            folder_id=folder_id,
            conversation_id=conversation_id,
            expires_at=post.expires_at,
            created_at=now,
        )
    )
    return UploadTicket(
        upload_id=upload_id,
        url=post.url,
        fields=post.fields,
        key=upload_key,
        target_key=key,
        expires_at=post.expires_at,
        max_bytes=size_bytes,
    )


async def verify(
    *, storage: Storage, metrics: Metrics, user_id: UUID, upload_id: UUID, purpose: Purpose
) -> VerifiedUpload:
    """Seal a pending upload and check the sealed copy; a bad one is deleted, then refused."""
    async with _counted(metrics, purpose, "confirm"):
        return await _verify(storage=storage, user_id=user_id, upload_id=upload_id, purpose=purpose)


def _no_such_upload() -> NotFound:
    return NotFound("No such upload: it was already used, or it expired.", field="upload_id")


async def _verify(
    *, storage: Storage, user_id: UUID, upload_id: UUID, purpose: Purpose
) -> VerifiedUpload:
    row = (
        await PendingUpload.select()
        .where(
            (PendingUpload.id == upload_id)
            & (PendingUpload.user_id == user_id)
            & (PendingUpload.purpose == purpose)
        )
        .first()
    )
    if row is None:
        raise _no_such_upload()
    upload_key: str = row["s3_key"]
    target_key: str = row["target_key"]
    # A form signed before uploads were sealed names its final key: it cannot be sealed.
    if row["expires_at"] <= datetime.now(UTC) or not upload_key.startswith(UPLOAD_PREFIX):
        await _discard(storage, upload_id, upload_key, target_key)
        raise ValidationFailed("This upload expired. Start a new one.", field="upload_id")
    declared = MEDIA_TYPES[row["declared_mime"]]
    refused: AppError | None = None
    # The row lock makes concurrent confirms of one upload take turns: the first copies and
    # records the copy's size, the others find it sealed and never copy over it.
    async with DB.transaction():
        locked = await db.fetch(
            "SELECT sealed_size FROM pending_uploads WHERE id = $1 FOR UPDATE", upload_id
        )
        if not locked:
            raise _no_such_upload()
        size: int
        if locked[0]["sealed_size"] is not None:
            size = int(locked[0]["sealed_size"])
        else:
            refused, size = await _seal(storage, upload_key, target_key, declared, row)
            if refused is None:
                await PendingUpload.update({PendingUpload.sealed_size: size}).where(
                    PendingUpload.id == upload_id
                )
    if refused is not None:
        await _discard(storage, upload_id, upload_key, target_key)
        raise refused
    # Posted again later, the upload is never read: `sweep` deletes it.
    await _delete_quietly(storage, upload_key)
    return VerifiedUpload(
        upload_id=upload_id,
        key=target_key,
        size_bytes=size,
        mime_type=declared.mime,
        filename=row["filename"],
        folder_id=row["folder_id"],
        conversation_id=row["conversation_id"],
    )


async def _seal(
    storage: Storage,
    upload_key: str,
    target_key: str,
    declared: MediaType,
    row: dict[str, Any],
) -> tuple[AppError | None, int]:
    """Copy the upload to its final key and check the copy: (why it is refused, its size)."""
    try:
        await storage.copy(upload_key, target_key, content_type=declared.mime)
    except ObjectNotFound:
        # The row stays: the browser may still be sending the file.
        raise ValidationFailed(
            "The file has not arrived yet. Upload it first.", field="upload_id"
        ) from None
    copied = await storage.stat(target_key)
    if copied is None:  # pragma: no cover - we just wrote it
        raise ValidationFailed("The file has not arrived yet. Upload it first.", field="upload_id")
    if copied.size > row["declared_size"]:
        return PayloadTooLarge("The file is larger than declared.", field="size_bytes"), 0
    if copied.size < 1 or not await content.object_ok(
        storage, target_key, mime=declared.mime, size=copied.size
    ):
        return ValidationFailed(
            f"The file is not a valid {declared.extension.upper()} file.", field="file"
        ), 0
    return None, copied.size


async def consume(*, upload_id: UUID) -> None:
    """Take a verified upload, once; run it in the transaction that records the result."""
    taken = (
        await PendingUpload.delete()
        .where((PendingUpload.id == upload_id) & PendingUpload.sealed_size.is_not_null())
        .returning(PendingUpload.id)
    )
    if not taken:
        raise _no_such_upload()


async def _delete_quietly(storage: Storage, key: str) -> None:
    try:
        await storage.delete(key)
    except DependencyUnavailable:
        log.warning("upload left to the sweep: s3 unavailable")


async def _discard(storage: Storage, upload_id: UUID, upload_key: str, target_key: str) -> None:
    # Objects first: a crash in between leaves a row that `delete_expired` finishes.
    await storage.delete(upload_key)
    await storage.delete(target_key)
    await PendingUpload.delete().where(PendingUpload.id == upload_id)
    log.info("upload refused and removed", extra={"upload_id": str(upload_id)})


async def delete_expired(*, storage: Storage, batch_size: int = 500) -> int:
    """Remove uploads never confirmed before their expiry: the row, then both objects."""
    removed = 0
    while True:
        async with DB.transaction():
            # The row first, so a confirm of it finds nothing, and the objects' deletion in
            # the same commit: it happens even if S3 is down right now.
            rows = await db.fetch(
                "DELETE FROM pending_uploads WHERE id IN (SELECT id FROM pending_uploads"
                " WHERE expires_at < now() ORDER BY expires_at LIMIT $1"
                " FOR UPDATE SKIP LOCKED) RETURNING s3_key, target_key",
                batch_size,
            )
            keys = sorted({key for row in rows for key in (row["s3_key"], row["target_key"])})
            if keys:
                await jobs.enqueue(DELETE_OBJECTS_JOB, {"keys": keys, "prefixes": []})
        for key in keys:
            await _delete_quietly(storage, key)
        removed += len(rows)
        if len(rows) < batch_size:
            return removed


async def sweep(*, storage: Storage) -> int:
    """Delete objects under `uploads/` that no open upload waits for; return how many.

    That is an upload whose row is gone (confirmed, refused, expired, its account deleted)
    or already sealed, or one older than any form that could have written it.
    """
    found = await storage.list_objects(UPLOAD_PREFIX)
    oldest = datetime.now(UTC) - UPLOAD_EXPIRY - SWEEP_MARGIN
    swept = 0
    for at in range(0, len(found), 500):
        batch = found[at : at + 500]
        waiting = await db.fetch(
            "SELECT s3_key FROM pending_uploads WHERE s3_key = ANY($1::text[])"
            " AND sealed_size IS NULL",
            [item.key for item in batch],
        )
        open_keys = {row["s3_key"] for row in waiting}
        for item in batch:
            stale = item.last_modified is not None and item.last_modified < oldest
            if item.key not in open_keys or stale:
                await storage.delete(item.key)
                swept += 1
    if swept:
        log.info("uploads swept", extra={"objects": swept})
    return swept
