"""The data export (SPEC §3.9): every row of the caller's, from every table, as one JSON file.

The rows are read from one read-only `REPEATABLE READ` snapshot, with server-side cursors,
into a gzip-compressed temporary file (in memory up to `EXPORT_MEMORY_BYTES`, then in the
temporary directory); the pooled connection goes back to the pool as soon as the last row
is read, *before* the first byte is sent. A client that reads slowly, or not at all, holds
only its own file and socket, never a database connection (docs/account-data.md).
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from tempfile import SpooledTemporaryFile
from typing import Literal
from uuid import UUID

import asyncpg

from umbrella.accounts.tables import User
from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.privacy.export_gate import ExportGate, ExportTicket
from umbrella.privacy.service import account_gone

# The first fetch of a big table sorts it (1M rows: a few seconds), past the 10 s default.
EXPORT_STATEMENT_TIMEOUT = "2min"
EXPORT_PREFETCH = 500
EXPORT_CHUNK_BYTES = 64 * 1024
# Compressed bytes kept in memory before the file moves to the temporary directory (JSON of
# this shape shrinks about tenfold: 8 MB is an export of about 80 MB, 170,000 rows).
EXPORT_MEMORY_BYTES = 8 * 1024 * 1024
# zlib's default level: about tenfold on this JSON, at about 50 MB/s of input per core.
GZIP_LEVEL = 6
GZIP_WBITS = 31  # a gzip header and trailer, so the bytes are a valid `Content-Encoding: gzip`


# -- what is exported ----------------------------------------------------------------------


@dataclass(frozen=True)
class Rows:
    """The rows of one table that belong to a user; `$1` is the user's or their artist's id.

    `source` is a FROM clause with the exported table aliased `t`; `hidden` columns are
    secrets left out. Every other column is exported, so a new column is never forgotten.
    """

    by: Literal["user", "artist"]
    source: str
    order: str = "t.created_at, t.id"
    hidden: tuple[str, ...] = ()

    @property
    def sql(self) -> str:
        row = "to_jsonb(t)"
        if self.hidden:
            names = ",".join(self.hidden)
            row = f"(to_jsonb(t) - '{{{names}}}'::text[])"
        return f"SELECT {row}::text FROM {self.source} ORDER BY {self.order}"


# One key per table holding personal data (tests/privacy checks none is missing). A table
# related to the user in two ways (received / written) has one list per way.
EXPORT: tuple[tuple[str, Rows | dict[str, Rows]], ...] = (
    ("users", Rows("user", "users t WHERE t.id = $1", order="t.id")),
    (
        "sessions",
        Rows(
            "user",
            "sessions t WHERE t.user_id = $1",
            order="t.created_at, t.token_hash",
            hidden=("token_hash",),
        ),
    ),
    ("artists", Rows("user", "artists t WHERE t.user_id = $1")),
    (
        "artist_followers",
        {
            "followers": Rows("artist", "artist_followers t WHERE t.artist_id = $1"),
            "following": Rows("user", "artist_followers t WHERE t.follower_user_id = $1"),
        },
    ),
    ("tracks", Rows("artist", "tracks t WHERE t.artist_id = $1", order="t.display_order, t.id")),
    (
        "review_invitations",
        Rows("artist", "review_invitations t WHERE t.artist_id = $1", hidden=("token_hash",)),
    ),
    (
        "reviews",
        {
            # The reviewers' emails are theirs, not the artist's (the profile never shows them).
            "received": Rows(
                "artist", "reviews t WHERE t.artist_id = $1", hidden=("reviewer_email",)
            ),
            "written": Rows("user", "reviews t WHERE t.reviewer_user_id = $1"),
        },
    ),
    (
        "timeline_entries",
        Rows("artist", "timeline_entries t WHERE t.artist_id = $1", order="t.occurred_on, t.id"),
    ),
    (
        "artist_unavailability",
        Rows("artist", "artist_unavailability t WHERE t.artist_id = $1", order="t.starts_on, t.id"),
    ),
    ("gigs", Rows("user", "gigs t WHERE t.venue_id = $1", order="t.date, t.id")),
    (
        "gig_applications",
        {
            "sent": Rows(
                "artist", "gig_applications t WHERE t.artist_id = $1", order="t.applied_at, t.id"
            ),
            "received": Rows(
                "user",
                "gig_applications t JOIN gigs g ON g.id = t.gig_id WHERE g.venue_id = $1",
                order="t.applied_at, t.id",
            ),
        },
    ),
    (
        "booking_terms",
        {
            "as_artist": Rows(
                "artist", "booking_terms t WHERE t.artist_id = $1", order="t.date, t.application_id"
            ),
            "as_venue": Rows(
                "user", "booking_terms t WHERE t.venue_id = $1", order="t.date, t.application_id"
            ),
        },
    ),
    ("gig_favorites", Rows("artist", "gig_favorites t WHERE t.artist_id = $1")),
    ("gig_alerts", Rows("artist", "gig_alerts t WHERE t.artist_id = $1")),
    (
        "gig_alert_digests",
        Rows("artist", "gig_alert_digests t WHERE t.artist_id = $1", order="t.artist_id"),
    ),
    (
        "gig_alert_sends",
        Rows("artist", "gig_alert_sends t WHERE t.artist_id = $1", order="t.sent_at, t.id"),
    ),
    (
        "venue_reviews",
        {
            "received": Rows("user", "venue_reviews t WHERE t.venue_user_id = $1"),
            "written": Rows("artist", "venue_reviews t WHERE t.reviewer_artist_id = $1"),
        },
    ),
    (
        "conversations",
        Rows("user", "conversations t WHERE $1 IN (t.participant_1_id, t.participant_2_id)"),
    ),
    (
        "messages",
        Rows(
            "user",
            "messages t JOIN conversations c ON c.id = t.conversation_id"
            " WHERE $1 IN (c.participant_1_id, c.participant_2_id)",
            order="t.conversation_id, t.created_at, t.id",
        ),
    ),
    ("inbox_versions", Rows("user", "inbox_versions t WHERE t.user_id = $1", order="1")),
    ("venue_stats", Rows("user", "venue_stats t WHERE t.venue_id = $1", order="1")),
    ("folders", Rows("artist", "folders t WHERE t.artist_id = $1")),
    ("files", Rows("artist", "files t WHERE t.artist_id = $1")),
    ("storage_quotas", Rows("artist", "storage_quotas t WHERE t.artist_id = $1", order="1")),
    ("pending_uploads", Rows("user", "pending_uploads t WHERE t.user_id = $1")),
    ("contact_lists", Rows("artist", "contact_lists t WHERE t.artist_id = $1")),
    (
        "contact_list_members",
        Rows(
            "artist",
            "contact_list_members t JOIN contact_lists l ON l.id = t.list_id"
            " WHERE l.artist_id = $1",
            order="t.list_id, t.created_at, t.id",
        ),
    ),
    ("broadcast_messages", Rows("artist", "broadcast_messages t WHERE t.artist_id = $1")),
    (
        "broadcast_lists",
        Rows(
            "artist",
            "broadcast_lists t JOIN broadcast_messages b ON b.id = t.broadcast_id"
            " WHERE b.artist_id = $1",
            order="t.broadcast_id, t.list_id",
        ),
    ),
    (
        "broadcast_deliveries",
        Rows(
            "artist",
            "broadcast_deliveries t JOIN broadcast_messages b ON b.id = t.broadcast_id"
            " WHERE b.artist_id = $1",
            order="t.broadcast_id, t.created_at, t.id",
        ),
    ),
    ("fan_suppressions", Rows("artist", "fan_suppressions t WHERE t.artist_id = $1")),
    ("journal_entries", Rows("artist", "journal_entries t WHERE t.artist_id = $1")),
    ("goals", Rows("artist", "goals t WHERE t.artist_id = $1")),
    ("daily_metrics", Rows("artist", "daily_metrics t WHERE t.artist_id = $1", order="t.date")),
    (
        "profile_view_counts",
        Rows("artist", "profile_view_counts t WHERE t.artist_id = $1", order="t.date"),
    ),
    (
        "track_play_counts",
        Rows("artist", "track_play_counts t WHERE t.artist_id = $1", order="t.date"),
    ),
    (
        "violet_usage",
        Rows("artist", "violet_usage t WHERE t.artist_id = $1"),
    ),
    ("notifications", Rows("user", "notifications t WHERE t.user_id = $1")),
    (
        "calendar_feeds",
        Rows("user", "calendar_feeds t WHERE t.user_id = $1", hidden=("token_hash",)),
    ),
)


@dataclass
class ExportFile:
    """A finished export: the whole response body (the envelope), gzip-compressed.

    `size` is the compressed length and `plain_size` the JSON's, so either can be sent with
    a `Content-Length`. Closing it deletes the file and ends the caller's export slot.
    """

    file: SpooledTemporaryFile[bytes]
    size: int
    plain_size: int
    ticket: ExportTicket | None = None
    _closed: bool = field(default=False, repr=False)

    def chunks(self, *, compressed: bool) -> Iterator[bytes]:
        """The body in pieces of about EXPORT_CHUNK_BYTES, gzip or decompressed on the way."""
        self.file.seek(0)
        inflate = None if compressed else zlib.decompressobj(wbits=GZIP_WBITS)
        # Reads from the page cache or memory: microseconds, fine on the event loop.
        while piece := self.file.read(EXPORT_CHUNK_BYTES):
            if inflate is None:
                yield piece
                continue
            while piece:
                out = inflate.decompress(piece, EXPORT_CHUNK_BYTES)
                piece = inflate.unconsumed_tail
                if out:
                    yield out
        if inflate is not None and (rest := inflate.flush()):
            yield rest

    async def touch(self) -> None:
        """Tell the gate the download is still moving (renews the caller's export slot)."""
        if self.ticket is not None:
            await self.ticket.touch()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.file.close()
        if self.ticket is not None:
            await self.ticket.release()


class _Writer:
    """Compresses JSON text into the file in pieces of about EXPORT_CHUNK_BYTES."""

    def __init__(self, file: SpooledTemporaryFile[bytes]) -> None:
        self._file = file
        self._deflate = zlib.compressobj(GZIP_LEVEL, wbits=GZIP_WBITS)
        self._parts: list[str] = []
        self._pending = 0
        self.size = 0
        self.plain_size = 0

    def add(self, text: str) -> None:
        self._parts.append(text)
        self._pending += len(text)

    @property
    def full(self) -> bool:
        return self._pending >= EXPORT_CHUNK_BYTES

    def flush(self) -> None:
        raw = "".join(self._parts).encode()
        self._parts, self._pending = [], 0
        self.plain_size += len(raw)
        self._write(self._deflate.compress(raw))

    def finish(self) -> None:
        self.flush()
        self._write(self._deflate.flush())

    def _write(self, data: bytes) -> None:
        if data:
            # A tenth of a 64 KB piece, to memory or the page cache: no thread needed.
            self._file.write(data)
            self.size += len(data)


Progress = Callable[[], Awaitable[None]]


async def _rows(
    connection: asyncpg.Connection, rows: Rows, owner: UUID | None, out: _Writer, progress: Progress
) -> None:
    out.add("[")
    if owner is not None:
        separator = ""
        async for record in connection.cursor(rows.sql, owner, prefetch=EXPORT_PREFETCH):
            out.add(separator + record[0])
            separator = ","
            if out.full:
                out.flush()
                await progress()
    out.add("]")


async def _read_into(out: _Writer, user_id: UUID, progress: Progress) -> None:
    async with (
        db.connection() as connection,
        connection.transaction(
            # One snapshot: the export is consistent across tables even while the user works.
            isolation="repeatable_read",
            readonly=True,
        ),
    ):
        await connection.execute(f"SET LOCAL statement_timeout = '{EXPORT_STATEMENT_TIMEOUT}'")
        await connection.execute("SET LOCAL TimeZone = 'UTC'")
        artist_id = await connection.fetchval("SELECT id FROM artists WHERE user_id = $1", user_id)
        owners = {"user": user_id, "artist": artist_id}
        out.add('{"exported_at":' + json.dumps(datetime.now(UTC).isoformat()))
        for key, spec in EXPORT:
            out.add(f',"{key}":')
            if isinstance(spec, Rows):
                await _rows(connection, spec, owners[spec.by], out, progress)
                continue
            out.add("{")
            for index, (part, rows) in enumerate(spec.items()):
                out.add(f'{"," if index else ""}"{part}":')
                await _rows(connection, rows, owners[rows.by], out, progress)
            out.add("}")
        out.add("}")


async def export_user_data(*, caller: Caller, gate: ExportGate, meta_json: str) -> ExportFile:
    """Everything stored about the caller, as the whole success envelope (ExportOut), in a file.

    Raises `RateLimited` while another export of the same user is in flight, and
    `Unauthorized` when the user is gone. The view streams the file, then closes it.
    """
    # The artist id is read inside the export's snapshot (`_read_into`), not from the caller:
    # every table is then read as of one moment.
    user_id = caller.user_id
    ticket = await gate.enter(user_id=user_id)
    # Closed by ExportFile.close once sent (or below on failure), not by a with-block.
    file: SpooledTemporaryFile[bytes] = SpooledTemporaryFile(  # noqa: SIM115
        max_size=EXPORT_MEMORY_BYTES, prefix="umbrella-export-"
    )
    try:
        if not await User.exists().where(User.id == user_id):
            raise account_gone()
        out = _Writer(file)
        out.add('{"success":true,"data":')
        async with gate.reading():
            await _read_into(out, user_id, ticket.touch)
        out.add(f',"meta":{meta_json}}}')
        out.finish()
    except BaseException:
        file.close()
        await asyncio.shield(ticket.release())
        raise
    return ExportFile(file=file, size=out.size, plain_size=out.plain_size, ticket=ticket)
