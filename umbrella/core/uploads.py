"""The upload flow every domain shares: sign a browser upload, then verify what arrived.

1. `start` checks the declared type and size, records a `pending_uploads` row and signs a
   POST policy whose `content-length-range` makes the store itself refuse a bigger body.
2. The browser POSTs the file straight to S3.
3. `verify` stats the object and sniffs its first bytes: the real type must be the declared
   one (SPEC §3.5, ours: by content, not by the client's word). A bad object is deleted.
4. Inside the caller's transaction, `consume` takes the pending row (once: a second
   confirm of the same upload finds nothing), and the caller records what it made of it.

Expired, never-confirmed uploads are removed (object and row) by the uploads cleanup.
`start` and `verify` count each step in `umbrella_uploads_total` (ok, rejected, failed).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from umbrella.core.storage import Storage
from umbrella.files.tables import PendingUpload
from umbrella.observability.metrics import Metrics
from umbrella.web.errors import AppError, NotFound, PayloadTooLarge, ValidationFailed

log = logging.getLogger(__name__)

MediaKind = Literal["image", "audio", "video", "document"]
Purpose = Literal["avatar", "banner", "track", "file", "attachment"]
Step = Literal["start", "confirm"]

UPLOAD_EXPIRY = timedelta(minutes=15)  # SPEC §3.5
MB = 1024 * 1024
SNIFF_BYTES = 64


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
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}


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


def sniff(head: bytes) -> str | None:
    """The canonical MIME type the first bytes of a file show, or None if none we accept."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"PK\x03\x04"):
        return _DOCX  # an Office Open XML document is a zip archive
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"ID3") or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIC_BRANDS:
            return "image/heic"
        if brand == b"qt  ":
            return "video/quicktime"
        return "video/mp4"
    return None


@dataclass(frozen=True)
class UploadTicket:
    """What a client needs to upload: POST `fields` plus the file (last) to `url`."""

    upload_id: UUID
    url: str
    fields: dict[str, str]
    key: str
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
    """An uploaded object whose size and real type check out."""

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
    """Record a pending upload and sign the browser's POST of exactly this key, type and size.

    `upload_id` is new unless given (a file's upload has its file's id, so a retried confirm
    can find what the first one made).
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
    # Signed first: a store that is down leaves no pending row behind.
    post = await storage.presigned_post(
        key=key, content_type=media.mime, max_bytes=size_bytes, expires=UPLOAD_EXPIRY
    )
    now = datetime.now(UTC)
    await PendingUpload.insert(
        PendingUpload(
            id=upload_id,
            user_id=user_id,
            purpose=purpose,
            s3_key=key,
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
        key=key,
        expires_at=post.expires_at,
        max_bytes=size_bytes,
    )


async def verify(
    *, storage: Storage, metrics: Metrics, user_id: UUID, upload_id: UUID, purpose: Purpose
) -> VerifiedUpload:
    """Check the object of a pending upload; a bad one is deleted with its row, then refused."""
    async with _counted(metrics, purpose, "confirm"):
        return await _verify(storage=storage, user_id=user_id, upload_id=upload_id, purpose=purpose)


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
        raise NotFound("No such upload: it was already used, or it expired.", field="upload_id")
    key: str = row["s3_key"]
    if row["expires_at"] <= datetime.now(UTC):
        await _discard(storage, upload_id, key)
        raise ValidationFailed("This upload expired. Start a new one.", field="upload_id")
    found = await storage.stat(key)
    if found is None:
        # The row stays: the browser may still be sending the file.
        raise ValidationFailed("The file has not arrived yet. Upload it first.", field="upload_id")
    declared = MEDIA_TYPES[row["declared_mime"]]
    if found.size > row["declared_size"]:
        await _discard(storage, upload_id, key)
        raise PayloadTooLarge("The file is larger than declared.", field="size_bytes")
    detected = sniff(await storage.read_head(key, length=SNIFF_BYTES))
    if detected != declared.mime:
        await _discard(storage, upload_id, key)
        raise ValidationFailed(
            f"The file is not a valid {declared.extension.upper()} file.", field="file"
        )
    return VerifiedUpload(
        upload_id=upload_id,
        key=key,
        size_bytes=found.size,
        mime_type=declared.mime,
        filename=row["filename"],
        folder_id=row["folder_id"],
        conversation_id=row["conversation_id"],
    )


async def consume(*, upload_id: UUID) -> None:
    """Take a verified upload, once; run it in the transaction that records the result."""
    taken = (
        await PendingUpload.delete()
        .where(PendingUpload.id == upload_id)
        .returning(PendingUpload.id)
    )
    if not taken:
        raise NotFound("No such upload: it was already used, or it expired.", field="upload_id")


async def _discard(storage: Storage, upload_id: UUID, key: str) -> None:
    await storage.delete(key)
    await PendingUpload.delete().where(PendingUpload.id == upload_id)
    log.info("upload refused and removed", extra={"upload_id": str(upload_id)})
