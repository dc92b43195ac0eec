"""Studio: the artist's journal (SPEC §3.6).

A journal entry is an ordered list of typed blocks stored as JSON; media blocks point at the
artist's own files, checked when the entry is written and described (with a one-hour link)
when it is read. docs/studio.md describes the routes and every error.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.errors import NotFound, ValidationFailed
from umbrella.core.pagination import ListPage, Pager
from umbrella.core.sql import Conditions
from umbrella.core.storage import Storage
from umbrella.files import service as files_service
from umbrella.piccolo_conf import DB
from umbrella.storage import uploads
from umbrella.studio.schemas import (
    Block,
    BlockOut,
    EntryType,
    JournalEntryOut,
    JournalEntrySummaryOut,
    TextBlock,
)

DOWNLOAD_EXPIRY = timedelta(hours=1)  # SPEC §3.5: downloads through a presigned GET (1 hour)
EXCERPT_CHARS = 200

ENTRY_COLUMNS = "e.id, e.title, e.entry_type, e.blocks, e.created_at, e.updated_at"


def _no_such_entry() -> NotFound:
    return NotFound("No such journal entry.", field="entry_id")


def _entry_type(blocks: Sequence[Block]) -> EntryType:
    """text: only text; video: videos (and text); mixed: any image or audio."""
    kinds = {block.type for block in blocks}
    if kinds & {"image", "audio"}:
        return "mixed"
    return "video" if "video" in kinds else "text"


async def _check_files(artist_id: UUID, blocks: Sequence[Block]) -> None:
    """400 naming the first media block whose file is not one of the artist's of its kind."""
    wanted = [block.file_id for block in blocks if not isinstance(block, TextBlock)]
    if not wanted:
        return
    rows = await db.fetch(
        "SELECT id, mime_type FROM files WHERE artist_id = $1 AND id = ANY($2::uuid[])",
        artist_id,
        list(set(wanted)),
    )
    kinds = {row["id"]: uploads.MEDIA_TYPES[row["mime_type"]].kind for row in rows}
    for index, block in enumerate(blocks):
        if isinstance(block, TextBlock):
            continue
        field = f"blocks.{index}.file_id"
        # Another artist's file reads as missing: its id tells the caller nothing.
        if block.file_id not in kinds:
            raise ValidationFailed("No such file among yours.", field=field)
        if kinds[block.file_id] != block.type:
            raise ValidationFailed(
                f"This file is not {'an' if block.type == 'image' else 'a'} {block.type} file.",
                field=field,
            )


def _blocks_json(blocks: Sequence[Block]) -> str:
    return json.dumps([block.model_dump(mode="json", exclude_none=True) for block in blocks])


def _stored_blocks(value: Any) -> list[dict[str, Any]]:
    # asyncpg hands JSONB back as text unless a codec is set.
    blocks: list[dict[str, Any]] = json.loads(value) if isinstance(value, str) else value
    return blocks


def _excerpt(blocks: list[dict[str, Any]]) -> str:
    for block in blocks:
        if block.get("type") == "text":
            text = " ".join(str(block.get("content", "")).split())
            return text[:EXCERPT_CHARS]
    return ""


def _summary_out(row: dict[str, Any]) -> JournalEntrySummaryOut:
    blocks = _stored_blocks(row["blocks"])
    return JournalEntrySummaryOut(
        id=row["id"],
        title=row["title"],
        entry_type=row["entry_type"],
        block_count=len(blocks),
        excerpt=_excerpt(blocks),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _entry_out(storage: Storage, artist_id: UUID, row: dict[str, Any]) -> JournalEntryOut:
    blocks = _stored_blocks(row["blocks"])
    file_ids = {UUID(block["file_id"]) for block in blocks if block.get("file_id")}
    files: dict[UUID, dict[str, Any]] = {}
    if file_ids:
        # Only the artist's own files: a file deleted since leaves its block without a link.
        found = await db.fetch(
            "SELECT id, filename, s3_key, mime_type FROM files"
            " WHERE artist_id = $1 AND id = ANY($2::uuid[])",
            artist_id,
            list(file_ids),
        )
        files = {file["id"]: file for file in found}
    expires_at = datetime.now(UTC) + DOWNLOAD_EXPIRY
    out = []
    for block in blocks:
        file = files.get(UUID(block["file_id"])) if block.get("file_id") else None
        if file is None:
            out.append(BlockOut.model_validate(block))
            continue
        # Signing is local (no S3 round trip), so an entry of many media blocks stays cheap.
        url = await files_service.download_link(
            storage=storage,
            key=file["s3_key"],
            filename=file["filename"],
            mime=file["mime_type"],
            expires=DOWNLOAD_EXPIRY,
        )
        out.append(
            BlockOut(
                **block,
                filename=file["filename"],
                mime_type=file["mime_type"],
                download_url=url,
                download_expires_at=expires_at,
            )
        )
    return JournalEntryOut(
        id=row["id"],
        title=row["title"],
        entry_type=row["entry_type"],
        blocks=out,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _own_entry_row(artist_id: UUID, entry_id: UUID) -> dict[str, Any]:
    rows = await db.fetch(
        f"SELECT {ENTRY_COLUMNS} FROM journal_entries e WHERE e.id = $1 AND e.artist_id = $2",
        entry_id,
        artist_id,
    )
    if not rows:
        raise _no_such_entry()
    row: dict[str, Any] = rows[0]
    return row


def _require_content(title: str, blocks: Sequence[Block]) -> None:
    if not title and not blocks:
        raise ValidationFailed("An entry needs a title or at least one block.", field="blocks")


async def create_journal_entry(
    *, storage: Storage, caller: Caller, title: str, blocks: Sequence[Block]
) -> JournalEntryOut:
    """Write a journal entry whose media blocks point at the artist's own files."""
    artist_id = await caller.require_artist()
    _require_content(title, blocks)
    await _check_files(artist_id, blocks)
    entry_id = uuid.uuid4()
    now = datetime.now(UTC)
    await db.fetch(
        "INSERT INTO journal_entries"
        " (id, artist_id, title, blocks, entry_type, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)",
        entry_id,
        artist_id,
        title,
        _blocks_json(blocks),
        _entry_type(blocks),
        now,
        now,
    )
    return await _entry_out(storage, artist_id, await _own_entry_row(artist_id, entry_id))


async def list_journal_entries(
    *, settings: Settings, caller: Caller, cursor: str | None, limit: int
) -> ListPage[JournalEntrySummaryOut]:
    """The artist's journal entries, newest first, as summaries (no links)."""
    artist_id = await caller.require_artist()
    pager = Pager(settings, "journal", cursor=cursor, limit=limit)
    where = Conditions()
    where.add("e.artist_id = {}", artist_id)
    pager.narrow(where, alias="e")
    rows = await db.fetch(
        f"SELECT {ENTRY_COLUMNS} FROM journal_entries e WHERE {where.sql}"
        f" ORDER BY {pager.order_by('e')} LIMIT {where.param(pager.fetch)}",
        *where.values,
    )
    return pager.page(rows, _summary_out)


async def get_journal_entry(*, storage: Storage, caller: Caller, entry_id: UUID) -> JournalEntryOut:
    """One of the artist's entries, its media blocks with download links valid for one hour."""
    artist_id = await caller.require_artist()
    return await _entry_out(storage, artist_id, await _own_entry_row(artist_id, entry_id))


async def update_journal_entry(
    *, storage: Storage, caller: Caller, entry_id: UUID, changes: dict[str, Any]
) -> JournalEntryOut:
    """Replace an entry's title and/or its whole list of blocks."""
    artist_id = await caller.require_artist()
    if not changes:
        raise ValidationFailed("Send title and/or blocks.", field="body")
    if "blocks" in changes and changes["blocks"] is None:
        raise ValidationFailed("Send the list of blocks ([] for none).", field="blocks")
    async with DB.transaction():
        row = await _own_entry_row(artist_id, entry_id)
        # null and "" both mean untitled: the column holds "" for it.
        title = (changes["title"] or "") if "title" in changes else row["title"]
        if "blocks" in changes:
            blocks: Sequence[Block] = changes["blocks"]
            _require_content(title, blocks)
            await _check_files(artist_id, blocks)
            await db.fetch(
                "UPDATE journal_entries SET title = $1, blocks = $2::jsonb, entry_type = $3,"
                " updated_at = now() WHERE id = $4",
                title,
                _blocks_json(blocks),
                _entry_type(blocks),
                entry_id,
            )
        else:
            if not title and not _stored_blocks(row["blocks"]):
                raise ValidationFailed(
                    "An entry needs a title or at least one block.", field="title"
                )
            await db.fetch(
                "UPDATE journal_entries SET title = $1, updated_at = now() WHERE id = $2",
                title,
                entry_id,
            )
    return await _entry_out(storage, artist_id, await _own_entry_row(artist_id, entry_id))


async def delete_journal_entry(*, caller: Caller, entry_id: UUID) -> None:
    """Delete one of the artist's entries (its files stay in the file manager)."""
    artist_id = await caller.require_artist()
    deleted = await db.fetch(
        "DELETE FROM journal_entries WHERE id = $1 AND artist_id = $2 RETURNING id",
        entry_id,
        artist_id,
    )
    if not deleted:
        raise _no_such_entry()
