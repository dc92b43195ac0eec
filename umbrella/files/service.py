"""Files: the per-artist storage quota (D-026), enforced atomically in Postgres."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

from umbrella.core import jobs
from umbrella.core.storage import Storage
from umbrella.files.tables import PendingUpload, StorageQuota
from umbrella.files.tasks import DELETE_OBJECTS_JOB
from umbrella.web.errors import QuotaExceeded


async def reserve_storage(*, artist_id: UUID, size_bytes: int) -> None:
    """Count `size_bytes` against the artist's quota, or refuse if it would go over (D-026).

    One conditional UPDATE: concurrent uploads can never push an artist past the limit.
    """
    await StorageQuota.raw(
        "INSERT INTO storage_quotas (artist_id, updated_at) VALUES ({}, now())"
        " ON CONFLICT (artist_id) DO NOTHING",
        artist_id,
    )
    reserved = await StorageQuota.raw(
        "UPDATE storage_quotas SET used_bytes = used_bytes + {}, updated_at = now()"
        " WHERE artist_id = {} AND used_bytes + {} <= limit_bytes RETURNING artist_id",
        size_bytes,
        artist_id,
        size_bytes,
    )
    if not reserved:
        raise _over_quota()


def _over_quota() -> QuotaExceeded:
    return QuotaExceeded(
        "This file would take you over your 50 GB storage quota. Delete some files first.",
        field="size_bytes",
    )


async def check_storage(*, artist_id: UUID, size_bytes: int) -> None:
    """Refuse an upload before its URL is issued if it cannot fit (`reserve_storage` decides)."""
    if await remaining_storage(artist_id=artist_id) < size_bytes:
        raise _over_quota()


async def release_storage(*, artist_id: UUID, size_bytes: int) -> None:
    """Give back the bytes of a deleted object."""
    await StorageQuota.raw(
        "UPDATE storage_quotas SET used_bytes = GREATEST(used_bytes - {}, 0), updated_at = now()"
        " WHERE artist_id = {}",
        size_bytes,
        artist_id,
    )


async def remaining_storage(*, artist_id: UUID) -> int:
    """Bytes the artist may still store; checked before an upload URL is issued."""
    row = (
        await StorageQuota.select(StorageQuota.used_bytes, StorageQuota.limit_bytes)
        .where(StorageQuota.artist_id == artist_id)
        .first()
    )
    if row is None:
        return int(StorageQuota.limit_bytes.default)
    return max(0, int(row["limit_bytes"]) - int(row["used_bytes"]))


async def delete_objects_later(
    *,
    keys: Sequence[str] = (),
    prefixes: Sequence[str] = (),
    delay: timedelta | None = None,
) -> None:
    """Queue the deletion of objects (and folders, `prefix/`) whose rows this transaction
    removes; it happens even if S3 is down right now."""
    if keys or prefixes:
        payload = {"keys": list(keys), "prefixes": list(prefixes)}
        await jobs.enqueue(DELETE_OBJECTS_JOB, payload, delay=delay)


async def delete_expired_uploads(*, storage: Storage, batch_size: int = 500) -> int:
    """Remove uploads never confirmed before their expiry: the object, then the pending row."""
    removed = 0
    while True:
        expired = (
            await PendingUpload.select(PendingUpload.id, PendingUpload.s3_key)
            .where(PendingUpload.expires_at < datetime.now(UTC))
            .order_by(PendingUpload.expires_at)
            .limit(batch_size)
        )
        for upload in expired:
            # Object first: a crash in between leaves a row the next run finishes.
            await storage.delete(upload["s3_key"])
            await PendingUpload.delete().where(PendingUpload.id == upload["id"])
        removed += len(expired)
        if len(expired) < batch_size:
            return removed
