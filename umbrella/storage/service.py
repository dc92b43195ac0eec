"""Storage: the per-artist quota (D-026) and the deferred deletion of objects.

The quota is enforced atomically in Postgres: `reserve_storage` is one conditional UPDATE,
so concurrent confirms can never push an artist past the limit. An object whose row a
transaction removes is deleted by a job queued in that transaction (`delete_objects_later`),
so it goes even if S3 is down at that moment.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import timedelta
from uuid import UUID

from umbrella import jobs
from umbrella.core import db
from umbrella.core.errors import QuotaExceeded
from umbrella.storage.tables import StorageQuota
from umbrella.storage.tasks import DELETE_OBJECTS_JOB


def human_size(size_bytes: int, *, round_up: bool = False) -> str:
    """`size_bytes` as a person reads it, 1,024-based, to one decimal (rounded down by default)."""
    if size_bytes < 1024:
        return f"{size_bytes} byte" if size_bytes == 1 else f"{size_bytes} bytes"
    value = float(size_bytes)
    for unit in ("KB", "MB", "GB", "TB"):
        value /= 1024
        if value < 1024 or unit == "TB":
            break
    # Free space rounds down and a file's size up, so a refusal never reads "1.5 KB
    # does not fit in 1.5 KB free".
    tenths = math.ceil(value * 10) if round_up else math.floor(value * 10)
    text = f"{tenths / 10:.1f}".removesuffix(".0")
    return f"{text} {unit}"


# -- the quota (D-026) ---------------------------------------------------------------------


async def reserve_storage(*, artist_id: UUID, size_bytes: int) -> None:
    """Count `size_bytes` against the artist's quota, or refuse if it would go over (D-026).

    One conditional UPDATE: concurrent uploads can never push an artist past the limit.
    """
    await db.fetch(
        "INSERT INTO storage_quotas (artist_id, updated_at) VALUES ($1, now())"
        " ON CONFLICT (artist_id) DO NOTHING",
        artist_id,
    )
    reserved = await db.fetch(
        "UPDATE storage_quotas SET used_bytes = used_bytes + $1, updated_at = now()"
        " WHERE artist_id = $2 AND used_bytes + $3 <= limit_bytes RETURNING artist_id",
        size_bytes,
        artist_id,
        size_bytes,
    )
    if not reserved:
        raise await _over_quota(artist_id, size_bytes)


async def _over_quota(artist_id: UUID, size_bytes: int) -> QuotaExceeded:
    used, limit = await get_quota(artist_id=artist_id)
    size, free = human_size(size_bytes, round_up=True), human_size(max(0, limit - used))
    return QuotaExceeded(
        f"This file ({size}) does not fit in your {human_size(limit)} storage quota: "
        f"{free} free. Delete some files first.",
        field="size_bytes",
    )


async def get_quota(*, artist_id: UUID) -> tuple[int, int]:
    """(used, limit) bytes of an artist; an artist who never uploaded has the default quota."""
    row = (
        await StorageQuota.select(StorageQuota.used_bytes, StorageQuota.limit_bytes)
        .where(StorageQuota.artist_id == artist_id)
        .first()
    )
    if row is None:
        return 0, int(StorageQuota.limit_bytes.default)
    return int(row["used_bytes"]), int(row["limit_bytes"])


async def check_storage(*, artist_id: UUID, size_bytes: int) -> None:
    """Refuse an upload before its URL is issued if it cannot fit (`reserve_storage` decides)."""
    if await remaining_storage(artist_id=artist_id) < size_bytes:
        raise await _over_quota(artist_id, size_bytes)


async def release_storage(*, artist_id: UUID, size_bytes: int) -> None:
    """Give back the bytes of a deleted object."""
    await db.fetch(
        "UPDATE storage_quotas SET used_bytes = GREATEST(used_bytes - $1, 0), updated_at = now()"
        " WHERE artist_id = $2",
        size_bytes,
        artist_id,
    )


async def remaining_storage(*, artist_id: UUID) -> int:
    """Bytes the artist may still store; checked before an upload URL is issued."""
    used, limit = await get_quota(artist_id=artist_id)
    return max(0, limit - used)


# -- deferred deletion ---------------------------------------------------------------------


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
