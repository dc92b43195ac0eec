"""Files: the per-artist storage quota (D-026), enforced atomically in Postgres."""

from __future__ import annotations

from uuid import UUID

from umbrella.files.tables import StorageQuota
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
        raise QuotaExceeded(
            "This file would take you over your 50 GB storage quota. Delete some files first.",
            field="size_bytes",
        )


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
