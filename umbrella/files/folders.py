"""Folders of the file manager (SPEC §3.5): a tree per artist, listed flat with parent ids.

Every change to an artist's tree (make, rename, move or delete a folder; move a file, in
`service.update_file`) takes turns under a transaction-scoped advisory lock per artist, so
a loop check or an emptiness check always sees a tree nobody else is changing.
docs/files.md describes the routes and every error.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from piccolo.columns import Column

from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.errors import Conflict, NotFound, ValidationFailed
from umbrella.core.pagination import BY_NAME, ListPage, Pager
from umbrella.core.sql import Conditions
from umbrella.files.schemas import FolderOut, Place
from umbrella.files.tables import File, Folder
from umbrella.piccolo_conf import DB

# The `folder_id` / `parent_folder_id` filter's name for the top level.
ROOT = "root"

FOLDER_COLUMNS = (
    "d.id, d.name, d.parent_folder_id, d.created_at, d.updated_at,"
    " (SELECT count(*) FROM folders c WHERE c.parent_folder_id = d.id) AS folder_count,"
    " (SELECT count(*) FROM files f WHERE f.folder_id = d.id) AS file_count,"
    " (SELECT coalesce(sum(f.size_bytes), 0)::bigint FROM files f WHERE f.folder_id = d.id)"
    " AS size_bytes"
)


async def lock_tree(*, artist_id: UUID) -> None:
    """Take the artist's tree lock until the transaction ends."""
    # One artist's tree changes one transaction at a time: two concurrent folder moves can
    # never build a loop, and a folder found empty stays empty until it is deleted.
    await db.fetch(
        "SELECT pg_advisory_xact_lock(hashtextextended('umbrella.files:' || $1::uuid::text, 0))",
        artist_id,
    )


async def require_folder(*, artist_id: UUID, folder_id: UUID, field: str) -> None:
    """404 naming `field` unless the folder exists and is the artist's."""
    if not await Folder.exists().where((Folder.id == folder_id) & (Folder.artist_id == artist_id)):
        raise NotFound("No such folder.", field=field)


def _name_taken() -> Conflict:
    return Conflict("A folder with this name is already there.", field="name")


def _folder_out(row: dict[str, Any]) -> FolderOut:
    return FolderOut(
        id=row["id"],
        name=row["name"],
        parent_folder_id=row["parent_folder_id"],
        file_count=row["file_count"],
        folder_count=row["folder_count"],
        size_bytes=row["size_bytes"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _get_folder_out(folder_id: UUID) -> FolderOut:
    rows = await db.fetch(f"SELECT {FOLDER_COLUMNS} FROM folders d WHERE d.id = $1", folder_id)
    if not rows:  # pragma: no cover - read right after our own write
        raise NotFound("No such folder.", field="folder_id")
    return _folder_out(rows[0])


async def create_folder(*, caller: Caller, name: str, parent_folder_id: UUID | None) -> FolderOut:
    """Make a folder at the top level or inside one of the artist's folders."""
    artist_id = await caller.require_artist()
    folder_id = uuid.uuid4()
    now = datetime.now(UTC)
    try:
        async with DB.transaction():
            await lock_tree(artist_id=artist_id)
            if parent_folder_id is not None:
                await require_folder(
                    artist_id=artist_id, folder_id=parent_folder_id, field="parent_folder_id"
                )
            await Folder.insert(
                Folder(
                    id=folder_id,
                    artist_id=artist_id,
                    parent_folder_id=parent_folder_id,
                    name=name,
                    created_at=now,
                    updated_at=now,
                )
            )
    except asyncpg.UniqueViolationError:
        raise _name_taken() from None
    return await _get_folder_out(folder_id)


async def list_folders(
    *,
    settings: Settings,
    caller: Caller,
    parent_folder_id: Place,
    cursor: str | None,
    limit: int,
) -> ListPage[FolderOut]:
    """The artist's folders by name, flat with parent ids: all, or one level (`root` the top)."""
    artist_id = await caller.require_artist()
    pager = Pager(settings, "folders", cursor=cursor, limit=limit, keyset=BY_NAME)
    where = Conditions()
    where.add("d.artist_id = {}", artist_id)
    if parent_folder_id == ROOT:
        where.add("d.parent_folder_id IS NULL")
    elif isinstance(parent_folder_id, UUID):
        await require_folder(
            artist_id=artist_id, folder_id=parent_folder_id, field="parent_folder_id"
        )
        where.add("d.parent_folder_id = {}", parent_folder_id)
    pager.narrow(where, alias="d")
    rows = await db.fetch(
        f"SELECT {FOLDER_COLUMNS} FROM folders d WHERE {where.sql}"
        f" ORDER BY {pager.order_by('d')} LIMIT {where.param(pager.fetch)}",
        *where.values,
    )
    return pager.page(rows, _folder_out)


async def _is_within(folder_id: UUID, ancestor_id: UUID) -> bool:
    """True when `folder_id` is `ancestor_id` or lies somewhere below it."""
    # Walks up from `folder_id`: as deep as the tree, however wide it is. UNION (not ALL)
    # ends the walk even on a loop that should not exist.
    rows = await db.fetch(
        "WITH RECURSIVE up(id, parent_folder_id) AS ("
        " SELECT id, parent_folder_id FROM folders WHERE id = $1"
        " UNION SELECT f.id, f.parent_folder_id FROM folders f"
        " JOIN up ON f.id = up.parent_folder_id"
        ") SELECT 1 AS found FROM up WHERE id = $2 LIMIT 1",
        folder_id,
        ancestor_id,
    )
    return bool(rows)


async def update_folder(*, caller: Caller, folder_id: UUID, changes: dict[str, Any]) -> FolderOut:
    """Rename a folder and/or move it under another folder of the artist's (or the top level)."""
    artist_id = await caller.require_artist()
    if "name" in changes and changes["name"] is None:
        raise ValidationFailed("A folder needs a name.", field="name")
    try:
        async with DB.transaction():
            await lock_tree(artist_id=artist_id)
            await require_folder(artist_id=artist_id, folder_id=folder_id, field="folder_id")
            values: dict[Column | str, Any] = {}
            if "name" in changes:
                values[Folder.name] = changes["name"]
            if "parent_folder_id" in changes:
                parent = changes["parent_folder_id"]
                if parent is not None:
                    await require_folder(
                        artist_id=artist_id, folder_id=parent, field="parent_folder_id"
                    )
                    # Under the tree lock: no concurrent move can close a loop after this check.
                    if await _is_within(parent, folder_id):
                        raise ValidationFailed(
                            "A folder cannot move into itself or into one of its own folders.",
                            field="parent_folder_id",
                        )
                values[Folder.parent_folder_id] = parent
            if values:
                values[Folder.updated_at] = datetime.now(UTC)
                await Folder.update(values).where(Folder.id == folder_id)
    except asyncpg.UniqueViolationError:
        raise _name_taken() from None
    return await _get_folder_out(folder_id)


def _not_empty() -> Conflict:
    return Conflict(
        "Only an empty folder can be deleted: move or delete its files and folders first.",
        field="folder_id",
    )


async def delete_folder(*, caller: Caller, folder_id: UUID) -> None:
    """Delete one of the artist's folders if it holds no file and no folder."""
    artist_id = await caller.require_artist()
    try:
        async with DB.transaction():
            await lock_tree(artist_id=artist_id)
            await require_folder(artist_id=artist_id, folder_id=folder_id, field="folder_id")
            if await File.exists().where(
                File.folder_id == folder_id
            ) or await Folder.exists().where(Folder.parent_folder_id == folder_id):
                raise _not_empty()
            # Uploads still on their way into it will land at the top level (SET NULL).
            await Folder.delete().where(Folder.id == folder_id)
    except asyncpg.ForeignKeyViolationError:
        # A confirm (which does not take the tree lock) put a file in it meanwhile: files
        # reference their folder with NO ACTION, so the delete fails rather than orphan it.
        raise _not_empty() from None
