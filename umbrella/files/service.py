"""Files: the file manager's files (SPEC §3.5), charged against the storage quota (D-026).

Uploads, the quota and object deletion are the storage domain's (`umbrella.storage`). A
file's move takes the artist's tree lock, as folder changes do (`folders.py`).
docs/files.md describes the routes and every error.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from piccolo.columns import Column

from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.errors import DependencyUnavailable, NotFound, QuotaExceeded, ValidationFailed
from umbrella.core.pagination import ListPage, Pager
from umbrella.core.sql import Conditions
from umbrella.core.storage import INLINE_TYPES, Disposition, Storage
from umbrella.files.folders import ROOT, lock_tree, require_folder
from umbrella.files.schemas import (
    CategoryBytes,
    FileDetailOut,
    FileOut,
    FileType,
    FileUploadOut,
    Place,
    StorageUsageOut,
)
from umbrella.files.tables import FILE_CATEGORIES, File
from umbrella.observability.metrics import Metrics
from umbrella.piccolo_conf import DB
from umbrella.storage import service as storage_service
from umbrella.storage import uploads

log = logging.getLogger(__name__)

DOWNLOAD_EXPIRY = timedelta(hours=1)  # SPEC §3.5: downloads through a presigned GET (1 hour)
FILE_KINDS: tuple[FileType, ...] = ("image", "audio", "video", "document")
# What a file is for when the artist does not say.
DEFAULT_CATEGORY: dict[FileType, str] = {
    "image": "press_photo",
    "audio": "music",
    "video": "video",
    "document": "document",
}


# -- the file manager (SPEC §3.5) ----------------------------------------------------------

FILE_COLUMNS = (
    "f.id, f.folder_id, f.filename, f.s3_key, f.mime_type, f.category, f.size_bytes,"
    " f.created_at, f.updated_at"
)


def file_key(artist_id: UUID, folder_id: UUID | None, file_id: UUID, extension: str) -> str:
    """Where a file lives (SPEC §3.5): `files/{artistId}/{folderId or 'root'}/{fileId}.{ext}`."""
    # The folder it was uploaded into: a move changes the row, never the object's key.
    return f"files/{artist_id}/{folder_id or ROOT}/{file_id}.{extension}"


def _file_id_of(key: str, artist_id: UUID) -> UUID:
    """The file id `create_file_upload` put in the key."""
    if not key.startswith(f"files/{artist_id}/"):  # pragma: no cover - we signed this key
        raise NotFound("No such upload: it was already used, or it expired.", field="upload_id")
    return UUID(key.rsplit("/", 1)[1].split(".", 1)[0])


def _no_such_file() -> NotFound:
    return NotFound("No such file.", field="file_id")


def _kind_of(mime: str) -> FileType:
    return uploads.MEDIA_TYPES[mime].kind


def _download_name(filename: str, mime: str) -> str:
    """The name a download is saved as: the file's name, with its type's extension."""
    extension = uploads.MEDIA_TYPES[mime].extension
    known = {extension, "jpeg"} if extension == "jpg" else {extension}
    if "." in filename and filename.rsplit(".", 1)[1].lower() in known:
        return filename
    return f"{filename}.{extension}"


def _file_out(row: dict[str, Any]) -> FileOut:
    return FileOut(
        id=row["id"],
        folder_id=row["folder_id"],
        filename=row["filename"],
        mime_type=row["mime_type"],
        type=_kind_of(row["mime_type"]),
        category=row["category"],
        size_bytes=row["size_bytes"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def download_link(
    *,
    storage: Storage,
    key: str,
    filename: str,
    mime: str,
    expires: timedelta = DOWNLOAD_EXPIRY,
    disposition: Disposition = "attachment",
) -> str:
    """A presigned GET of a checked file, served as `mime`: saved under `filename` (with its
    type's extension), or shown in the browser, which only images, audio, video and PDF may.
    """
    if disposition == "inline" and mime not in INLINE_TYPES:
        kind = uploads.MEDIA_TYPES[mime].extension.upper()
        raise ValidationFailed(
            f"A {kind} file cannot be shown in the browser: only images, audio, video and PDF "
            "can. Use disposition=attachment (the default) to download it.",
            field="disposition",
        )
    return await storage.presigned_get(
        key,
        expires=expires,
        download_name=_download_name(filename, mime),
        content_type=mime,
        disposition=disposition,
    )


async def _file_detail(
    storage: Storage, row: dict[str, Any], disposition: Disposition = "attachment"
) -> FileDetailOut:
    expires_at = datetime.now(UTC) + DOWNLOAD_EXPIRY
    url = await download_link(
        storage=storage,
        key=row["s3_key"],
        filename=row["filename"],
        mime=row["mime_type"],
        disposition=disposition,
    )
    return FileDetailOut(
        **_file_out(row).model_dump(), download_url=url, download_expires_at=expires_at
    )


async def _own_file_row(artist_id: UUID, file_id: UUID, *, lock: bool = False) -> dict[str, Any]:
    rows = await db.fetch(
        f"SELECT {FILE_COLUMNS} FROM files f WHERE f.id = $1 AND f.artist_id = $2"
        + (" FOR UPDATE" if lock else ""),
        file_id,
        artist_id,
    )
    if not rows:
        raise _no_such_file()
    return rows[0]


async def _delete_now(storage: Storage, key: str) -> None:
    """Delete an object whose deletion is already queued: at once when S3 answers."""
    try:
        await storage.delete(key)
    except DependencyUnavailable:
        log.warning("object left to the delete_objects job: s3 unavailable")


async def create_file_upload(
    *,
    storage: Storage,
    metrics: Metrics,
    caller: Caller,
    content_type: str,
    size_bytes: int,
    filename: str,
    folder_id: UUID | None,
) -> FileUploadOut:
    """Sign the browser's upload of one file into a folder of the artist's (or the top level)."""
    artist_id = await caller.require_artist()
    media = uploads.media_type(content_type, kinds=FILE_KINDS)
    if folder_id is not None:
        await require_folder(artist_id=artist_id, folder_id=folder_id, field="folder_id")
    # An oversized file is refused by `start` with 413; anything else must fit the quota (D-026).
    if size_bytes <= media.max_bytes:
        await storage_service.check_storage(artist_id=artist_id, size_bytes=size_bytes)
    # The file's id is chosen now and travels in the key, so the pending upload carries it.
    file_id = uuid.uuid4()
    ticket = await uploads.start(
        storage=storage,
        metrics=metrics,
        user_id=caller.user_id,
        purpose="file",
        key=file_key(artist_id, folder_id, file_id, media.extension),
        media=media,
        size_bytes=size_bytes,
        filename=filename,
        folder_id=folder_id,
        upload_id=file_id,
    )
    return FileUploadOut.of(ticket, file_id=file_id)


async def _folder_for_new_file(artist_id: UUID, folder_id: UUID | None) -> UUID | None:
    """The upload's folder, held until commit; None if it was deleted since the upload began."""
    if folder_id is None:
        return None
    # KEY SHARE: a concurrent delete of the folder waits for this confirm, then finds it
    # not empty; a delete that committed first leaves the file at the top level.
    rows = await db.fetch(
        "SELECT id FROM folders WHERE id = $1 AND artist_id = $2 FOR KEY SHARE",
        folder_id,
        artist_id,
    )
    return folder_id if rows else None


async def create_file(
    *,
    storage: Storage,
    metrics: Metrics,
    caller: Caller,
    upload_id: UUID,
    category: str | None,
) -> tuple[FileDetailOut, bool]:
    """Record an uploaded file once its bytes check out and fit the quota (D-026).

    The file and whether this call made it: a confirm of an upload already confirmed (a
    retry whose first answer was lost, or a double click) answers the same file.
    """
    artist_id = await caller.require_artist()
    try:
        detail = await _confirm_upload(
            storage=storage,
            metrics=metrics,
            user_id=caller.user_id,
            artist_id=artist_id,
            upload_id=upload_id,
            category=category,
        )
    except NotFound as missing:
        # A file's upload id is its file's id (create_file_upload): this upload made it.
        made = await db.fetch(
            f"SELECT {FILE_COLUMNS} FROM files f WHERE f.id = $1 AND f.artist_id = $2",
            upload_id,
            artist_id,
        )
        if missing.field != "upload_id" or not made:
            raise
        return await _file_detail(storage, made[0]), False
    return detail, True


async def _confirm_upload(
    *,
    storage: Storage,
    metrics: Metrics,
    user_id: UUID,
    artist_id: UUID,
    upload_id: UUID,
    category: str | None,
) -> FileDetailOut:
    # A file that is not what it claims to be is deleted here and refused.
    verified = await uploads.verify(
        storage=storage, metrics=metrics, user_id=user_id, upload_id=upload_id, purpose="file"
    )
    file_id = _file_id_of(verified.key, artist_id)
    now = datetime.now(UTC)
    refused: QuotaExceeded | None = None
    async with DB.transaction():
        # Taken once: a second confirm of this upload finds nothing, so nothing is charged twice.
        await uploads.consume(upload_id=upload_id)
        try:
            # One conditional UPDATE: concurrent confirms never push the artist over (D-026).
            await storage_service.reserve_storage(
                artist_id=artist_id, size_bytes=verified.size_bytes
            )
        except QuotaExceeded as error:
            # The upload is spent either way: its pending row goes with this commit and
            # its object is deleted for sure, even if S3 is down right now.
            refused = error
            await storage_service.delete_objects_later(keys=[verified.key])
        else:
            await File.insert(
                File(
                    id=file_id,
                    artist_id=artist_id,
                    folder_id=await _folder_for_new_file(artist_id, verified.folder_id),
                    filename=verified.filename or f"{file_id}",
                    s3_key=verified.key,
                    size_bytes=verified.size_bytes,
                    mime_type=verified.mime_type,
                    category=category or DEFAULT_CATEGORY[_kind_of(verified.mime_type)],
                    created_at=now,
                    updated_at=now,
                )
            )
    if refused is not None:
        await _delete_now(storage, verified.key)
        raise refused
    return await _file_detail(storage, await _own_file_row(artist_id, file_id))


async def list_files(
    *,
    settings: Settings,
    caller: Caller,
    folder_id: Place,
    category: str | None,
    file_type: FileType | None,
    cursor: str | None,
    limit: int,
) -> ListPage[FileOut]:
    """The artist's files, newest first: all, one folder's, or the top level's (`root`)."""
    artist_id = await caller.require_artist()
    pager = Pager(settings, "files", cursor=cursor, limit=limit)
    where = Conditions()
    where.add("f.artist_id = {}", artist_id)
    if folder_id == ROOT:
        where.add("f.folder_id IS NULL")
    elif isinstance(folder_id, UUID):
        await require_folder(artist_id=artist_id, folder_id=folder_id, field="folder_id")
        where.add("f.folder_id = {}", folder_id)
    if category is not None:
        where.add("f.category = {}", category)
    if file_type is not None:
        mimes = [m.mime for m in uploads.MEDIA_TYPES.values() if m.kind == file_type]
        where.add("f.mime_type = ANY({}::text[])", mimes)
    pager.narrow(where, alias="f")
    rows = await db.fetch(
        f"SELECT {FILE_COLUMNS} FROM files f WHERE {where.sql}"
        f" ORDER BY {pager.order_by('f')} LIMIT {where.param(pager.fetch)}",
        *where.values,
    )
    return pager.page(rows, _file_out)


async def get_file(
    *,
    storage: Storage,
    caller: Caller,
    file_id: UUID,
    disposition: Disposition = "attachment",
) -> FileDetailOut:
    """One of the artist's files, with a link valid for one hour that saves or shows it."""
    artist_id = await caller.require_artist()
    # Found first: someone else's file is 404 whatever its type.
    return await _file_detail(storage, await _own_file_row(artist_id, file_id), disposition)


async def update_file(
    *, storage: Storage, caller: Caller, file_id: UUID, changes: dict[str, Any]
) -> FileDetailOut:
    """Move a file to another folder of the artist's (or the top level) and/or rename it."""
    artist_id = await caller.require_artist()
    if not changes:
        raise ValidationFailed(
            "Send folder_id (null: the top level) and/or filename.", field="body"
        )
    if "filename" in changes and changes["filename"] is None:
        raise ValidationFailed("A file needs a name.", field="filename")
    async with DB.transaction():
        await lock_tree(artist_id=artist_id)
        await _own_file_row(artist_id, file_id, lock=True)
        values: dict[Column | str, Any] = {File.updated_at: datetime.now(UTC)}
        if "folder_id" in changes:
            if changes["folder_id"] is not None:
                await require_folder(
                    artist_id=artist_id, folder_id=changes["folder_id"], field="folder_id"
                )
            values[File.folder_id] = changes["folder_id"]
        if "filename" in changes:
            values[File.filename] = changes["filename"]
        await File.update(values).where(File.id == file_id)
    return await _file_detail(storage, await _own_file_row(artist_id, file_id))


async def delete_file(*, storage: Storage, caller: Caller, file_id: UUID) -> None:
    """Delete one of the artist's files: the row and its bytes of quota now, the object after."""
    artist_id = await caller.require_artist()
    async with DB.transaction():
        deleted = await db.fetch(
            "DELETE FROM files WHERE id = $1 AND artist_id = $2 RETURNING s3_key, size_bytes",
            file_id,
            artist_id,
        )
        if not deleted:
            raise _no_such_file()
        await storage_service.release_storage(
            artist_id=artist_id, size_bytes=deleted[0]["size_bytes"]
        )
        # Durable: the object goes even if S3 is down right now.
        await storage_service.delete_objects_later(keys=[deleted[0]["s3_key"]])
    await _delete_now(storage, deleted[0]["s3_key"])


# -- usage -------------------------------------------------------------------------------------


async def get_usage(*, caller: Caller) -> StorageUsageOut:
    """The artist's storage against the quota, with the bytes of each file category (D-026)."""
    artist_id = await caller.require_artist()
    used, limit = await storage_service.get_quota(artist_id=artist_id)
    rows = await db.fetch(
        "SELECT category, count(*) AS files, coalesce(sum(size_bytes), 0)::bigint AS bytes"
        " FROM files WHERE artist_id = $1 GROUP BY category",
        artist_id,
    )
    by_category = dict.fromkeys(FILE_CATEGORIES, 0)
    for row in rows:
        by_category[row["category"]] = int(row["bytes"])
    files_bytes = sum(by_category.values())
    return StorageUsageOut(
        used_bytes=used,
        limit_bytes=limit,
        free_bytes=max(0, limit - used),
        used_percent=round(100 * used / limit, 2) if limit else 100.0,
        file_count=sum(int(row["files"]) for row in rows),
        by_category=CategoryBytes(**by_category),
        other_bytes=max(0, used - files_bytes),
    )
