"""Messaging (SPEC §3.4): one conversation per pair of users, polled by the SPA, never pushed.

Every write that changes someone's conversation list (a new conversation, a message either
way, a read) bumps that user's inbox version in its transaction and stamps it on the
conversation (`version_1` / `version_2`, the side of each participant). The bump row-locks
the user's `inbox_versions` row, so one user's versions are handed out in commit order:
`since=<version>` never skips a change, and the version is what the ETag of the list is
made of (`cache.py` keeps a copy in Redis, so an idle poll costs no query at all).

Locks, always in this order (account deletion locks the user row first as well):
1. both participants' `users` rows, FOR KEY SHARE, in id order;
2. their `inbox_versions` rows, in id order (the bump);
3. the conversation row.
A message takes its time (`clock_timestamp()`) after step 2, so within a conversation the
order of messages is the order of their commits.

Only the two participants see a conversation exists: anyone else gets 404 on every route.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from redis.asyncio import Redis

from umbrella.accounts.tables import User
from umbrella.artists import service as artists_service
from umbrella.artists.service import IMAGE_URL_EXPIRY
from umbrella.artists.tables import Artist
from umbrella.config import Settings
from umbrella.core import db, uploads
from umbrella.core.storage import Disposition, Storage
from umbrella.files import service as files_service
from umbrella.messaging import cache as inbox_cache
from umbrella.messaging.schemas import (
    AttachmentLinkOut,
    AttachmentOut,
    AttachmentUploadIn,
    AttachmentUploadOut,
    ConversationCreateIn,
    ConversationListOut,
    ConversationOut,
    MessageCreateIn,
    MessageOut,
    ParticipantOut,
    ReadOut,
    ThreadOut,
)
from umbrella.messaging.tables import Conversation, InboxVersion, Message
from umbrella.notifications import service as notifications
from umbrella.notifications.templates import MessagePayload
from umbrella.observability.metrics import Metrics
from umbrella.piccolo_conf import DB
from umbrella.web.errors import NotFound, ValidationFailed
from umbrella.web.pagination import Cursors, newest_first_position

log = logging.getLogger(__name__)

Side = Literal[1, 2]

PREVIEW_CHARS = 140  # conversations.last_message_preview
# At most one "New message from …" email per conversation and recipient in this time, and
# none again until they have read what the last one told them about.
NOTIFY_EVERY = timedelta(minutes=15)
ATTACHMENT_URL_EXPIRY = timedelta(hours=1)  # SPEC §3.5: downloads through a presigned GET
ATTACHMENT_KINDS: tuple[uploads.MediaKind, ...] = ("image", "audio", "video", "document")
# The name endings each accepted type may carry; a name without one gets the canonical one.
_EXTENSIONS: dict[str, frozenset[str]] = {
    "image/jpeg": frozenset({"jpg", "jpeg", "jpe"}),
    "image/png": frozenset({"png"}),
    "image/heic": frozenset({"heic", "heif"}),
    "audio/mpeg": frozenset({"mp3"}),
    "audio/wav": frozenset({"wav", "wave"}),
    "audio/flac": frozenset({"flac"}),
    "video/mp4": frozenset({"mp4", "m4v"}),
    "video/quicktime": frozenset({"mov", "qt"}),
    "application/pdf": frozenset({"pdf"}),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": frozenset({"docx"}),
}
_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
KEY_NAME_CHARS = 100  # of the file name inside the object key


def _no_such_conversation() -> NotFound:
    return NotFound("No such conversation.", field="conversation_id")


def _no_such_upload() -> NotFound:
    return NotFound("No such upload for this conversation.", field="upload_id")


@dataclass(frozen=True)
class Pair:
    """A conversation's two participants, in the stored order."""

    id: UUID
    participant_1_id: UUID
    participant_2_id: UUID

    def side_of(self, user_id: UUID) -> Side:
        return 1 if user_id == self.participant_1_id else 2

    def participant(self, side: int) -> UUID:
        return self.participant_1_id if side == 1 else self.participant_2_id

    @property
    def user_ids(self) -> tuple[UUID, UUID]:
        return self.participant_1_id, self.participant_2_id


def _other(side: Side) -> Side:
    return 2 if side == 1 else 1


async def _pair(*, conversation_id: UUID, user_id: UUID) -> Pair:
    """The conversation, if the caller is in it; 404 otherwise (its existence stays private)."""
    rows = await Conversation.raw(
        "SELECT id, participant_1_id, participant_2_id FROM conversations"
        " WHERE id = {} AND {}::uuid IN (participant_1_id, participant_2_id)",
        conversation_id,
        user_id,
    )
    if not rows:
        raise _no_such_conversation()
    return Pair(rows[0]["id"], rows[0]["participant_1_id"], rows[0]["participant_2_id"])


async def _lock_users(user_ids: Iterable[UUID]) -> set[UUID]:
    """Hold off the deletion of these users until the commit; the ones that still exist."""
    rows = await User.raw(
        "SELECT id FROM users WHERE id = ANY({}::uuid[]) ORDER BY id FOR KEY SHARE",
        sorted(set(user_ids)),
    )
    return {row["id"] for row in rows}


@dataclass(frozen=True)
class _Bumped:
    versions: dict[UUID, int]
    at: datetime  # the database's clock once every bumped row was locked


async def _bump(user_ids: Iterable[UUID]) -> _Bumped:
    """Give each user's inbox its next version (row locks in id order); queue the Redis copy.

    One statement for both users: rows are upserted, and so locked, in the order of the
    sorted ids, so two bumps of the same pair never deadlock. The latest `clock_timestamp()`
    of the rows is read after the last lock was taken: a time for "after the locks".
    """
    rows = await InboxVersion.raw(
        "INSERT INTO inbox_versions (user_id, version)"
        " SELECT user_id, 1 FROM unnest({}::uuid[]) AS ids(user_id) ORDER BY user_id"
        " ON CONFLICT (user_id) DO UPDATE"
        " SET version = inbox_versions.version + 1, updated_at = now()"
        " RETURNING user_id, version, clock_timestamp() AS at",
        sorted(set(user_ids)),
    )
    versions = {row["user_id"]: int(row["version"]) for row in rows}
    await inbox_cache.sync_later(versions)
    return _Bumped(versions=versions, at=max(row["at"] for row in rows))


def _preview(content: str) -> str:
    flat = " ".join(content.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


# -- reading conversations --------------------------------------------------------------------


def _side_sql(side: Side) -> str:
    """A conversation row as participant `side` sees it; `{}` is their user id."""
    other = _other(side)
    return (
        f"SELECT c.id, c.participant_{other}_id AS other_user_id, c.last_message_at,"
        f" c.last_message_preview, c.last_message_by = {side} AS last_message_mine,"
        f" c.unread_count_{side} AS unread_count, c.last_read_at_{other} AS other_last_read_at,"
        f" c.last_activity_at, c.created_at, c.version_{side} AS my_version"
        f" FROM conversations c WHERE c.participant_{side}_id = {{}}"
    )


async def _participants(storage: Storage, user_ids: Sequence[UUID]) -> dict[UUID, ParticipantOut]:
    """The other people of some conversations: names and one-hour avatar links."""
    if not user_ids:
        return {}
    rows = await User.raw(
        "SELECT u.id, u.role, u.display_name, a.id AS artist_id, a.stage_name, a.avatar_url"
        " FROM users u LEFT JOIN artists a ON a.user_id = u.id WHERE u.id = ANY({}::uuid[])",
        list(dict.fromkeys(user_ids)),
    )
    found = {}
    for row in rows:
        key = row["avatar_url"]
        found[row["id"]] = ParticipantOut(
            user_id=row["id"],
            role=row["role"],
            name=row["stage_name"] or row["display_name"] or "Umbrella member",
            display_name=row["display_name"],
            artist_id=row["artist_id"],
            stage_name=row["stage_name"],
            avatar_url=await storage.presigned_get(key, expires=IMAGE_URL_EXPIRY) if key else None,
        )
    return found


async def _conversation_outs(
    storage: Storage, rows: Sequence[dict[str, Any]]
) -> list[ConversationOut]:
    others = await _participants(storage, [row["other_user_id"] for row in rows])
    return [
        ConversationOut.model_validate({**row, "other": others[row["other_user_id"]]})
        for row in rows
        if row["other_user_id"] in others  # gone with an account deleted a moment ago
    ]


async def _own_row(pair: Pair, user_id: UUID) -> dict[str, Any]:
    rows = await Conversation.raw(
        f"{_side_sql(pair.side_of(user_id))} AND c.id = {{}}", user_id, pair.id
    )
    if not rows:
        raise _no_such_conversation()
    row: dict[str, Any] = rows[0]
    return row


async def get_conversation(
    *, storage: Storage, user_id: UUID, conversation_id: UUID
) -> ConversationOut:
    """One conversation as the caller's inbox shows it."""
    pair = await _pair(conversation_id=conversation_id, user_id=user_id)
    outs = await _conversation_outs(storage, [await _own_row(pair, user_id)])
    if not outs:
        raise _no_such_conversation()
    return outs[0]


@dataclass(frozen=True)
class ConversationList:
    """The answer to a poll: the page, or None when the client's copy is current (304)."""

    etag: str
    page: ConversationListOut | None


async def list_conversations(
    *,
    settings: Settings,
    redis: Redis,
    metrics: Metrics,
    storage: Storage,
    user_id: UUID,
    since: str | None,
    cursor: str | None,
    limit: int,
    if_none_match: str | None,
) -> ConversationList:
    """The inbox newest first, or what changed since a poll; nothing (304) if it is current."""
    if since and cursor:
        raise ValidationFailed("Page with cursor, or poll with since: not both.", field="cursor")
    state = await inbox_cache.current_version(redis, metrics, user_id)
    query = f"since={since or ''}&cursor={cursor or ''}&limit={limit}"
    etag = inbox_cache.etag_of(user_id=user_id, version=state.version, query=query, now=time.time())
    # The busiest path: a session from Redis, the version from Redis, no query at all.
    if inbox_cache.matches(if_none_match, etag):
        return ConversationList(etag=etag, page=None)
    since_cursors = Cursors(settings, "conversations-since")
    since_position = _since_position(since_cursors, since)
    if since is not None and since_position is not None and since_position["v"] == state.version:
        empty = ConversationListOut(items=[], next_cursor=None, since=since, has_more=False)
        return ConversationList(etag=etag, page=empty)

    # Read before the rows: the rows are at least this recent, so `since` skips nothing.
    known = state.from_postgres
    version = known if known is not None else await inbox_cache.version_in_postgres(user_id)
    if since_position is not None:
        rows = await _changed_rows(user_id, after=int(since_position["v"]), limit=limit)
        has_more = len(rows) > limit
        shown = rows[:limit]
        last = max([version, *(int(row["my_version"]) for row in shown)])
        page = ConversationListOut(
            items=await _conversation_outs(storage, shown),
            next_cursor=None,
            since=since_cursors.encode({"v": int(shown[-1]["my_version"]) if has_more else last}),
            has_more=has_more,
        )
        return ConversationList(etag=etag, page=page)

    cursors = Cursors(settings, "conversations")
    rows = await _inbox_rows(user_id, position=cursors.decode(cursor), limit=limit)
    page = ConversationListOut(
        items=await _conversation_outs(storage, rows[:limit]),
        next_cursor=cursors.next_cursor(
            rows,
            limit,
            lambda row: {"at": row["last_activity_at"].isoformat(), "id": str(row["id"])},
        ),
        since=since_cursors.encode({"v": version}),
        has_more=False,
    )
    return ConversationList(etag=etag, page=page)


def _since_position(cursors: Cursors, since: str | None) -> dict[str, Any] | None:
    try:
        return cursors.decode(since)
    except ValidationFailed:
        raise ValidationFailed(
            "This since value is not valid. Load the list again without it.", field="since"
        ) from None


async def _inbox_rows(
    user_id: UUID, *, position: dict[str, Any] | None, limit: int
) -> list[dict[str, Any]]:
    """`limit + 1` conversations newest activity first: one index walk per side, merged."""
    after, values = "", []
    if position is not None:
        after = " AND (c.last_activity_at, c.id) < ({}, {})"
        values = [datetime.fromisoformat(position["at"]), UUID(position["id"])]
    branches = [
        f"({_side_sql(side)}{after} ORDER BY c.last_activity_at DESC, c.id DESC LIMIT {{}})"
        for side in (1, 2)
    ]
    rows: list[dict[str, Any]] = await Conversation.raw(
        f"SELECT * FROM ({' UNION ALL '.join(branches)}) t"
        " ORDER BY t.last_activity_at DESC, t.id DESC LIMIT {}",
        *([user_id, *values, limit + 1] * 2),
        limit + 1,
    )
    return rows


async def _changed_rows(user_id: UUID, *, after: int, limit: int) -> list[dict[str, Any]]:
    """`limit + 1` conversations changed for the user after version `after`, oldest change first."""
    branches = [
        f"({_side_sql(side)} AND c.version_{side} > {{}} ORDER BY c.version_{side} LIMIT {{}})"
        for side in (1, 2)
    ]
    rows: list[dict[str, Any]] = await Conversation.raw(
        f"SELECT * FROM ({' UNION ALL '.join(branches)}) t ORDER BY t.my_version LIMIT {{}}",
        *([user_id, after, limit + 1] * 2),
        limit + 1,
    )
    return rows


# -- starting a conversation ------------------------------------------------------------------


async def _other_user(choice: ConversationCreateIn) -> tuple[UUID, str]:
    """The user to talk to, and the field that named them; 404 if there is no such one."""
    if choice.artist_id is not None:
        artist = await Artist.select(Artist.user_id).where(Artist.id == choice.artist_id).first()
        if artist is None:
            raise NotFound("No such artist.", field="artist_id")
        return artist["user_id"], "artist_id"
    assert choice.user_id is not None  # the schema asks for one of the two
    if not await User.exists().where(User.id == choice.user_id):
        raise NotFound("No such user.", field="user_id")
    return choice.user_id, "user_id"


async def create_conversation(
    *, redis: Redis, storage: Storage, user_id: UUID, choice: ConversationCreateIn
) -> tuple[ConversationOut, bool]:
    """The conversation with someone, started now (and True) or the one that exists already."""
    other_id, field = await _other_user(choice)
    if other_id == user_id:
        raise ValidationFailed("You cannot start a conversation with yourself.", field=field)
    low, high = sorted((user_id, other_id))
    versions: dict[UUID, int] = {}
    async with DB.transaction():
        if await _lock_users((low, high)) != {low, high}:
            raise NotFound("No such user.", field=field)
        inserted = await Conversation.raw(
            "INSERT INTO conversations (participant_1_id, participant_2_id) VALUES ({}, {})"
            " ON CONFLICT ON CONSTRAINT conversations_participant_1_id_participant_2_id_key"
            " DO NOTHING RETURNING id",
            low,
            high,
        )
        if inserted:
            # It shows in both inboxes from now on.
            versions = (await _bump((low, high))).versions
            await Conversation.raw(
                "UPDATE conversations SET version_1 = {}, version_2 = {} WHERE id = {}",
                versions[low],
                versions[high],
                inserted[0]["id"],
            )
    await inbox_cache.store(redis, versions)
    # Whoever made it first, it is this one (a concurrent start by the other side included).
    rows = await Conversation.raw(
        "SELECT id FROM conversations WHERE participant_1_id = {} AND participant_2_id = {}",
        low,
        high,
    )
    if not rows:  # the other account was deleted a moment ago
        raise NotFound("No such user.", field=field)
    conversation = await get_conversation(
        storage=storage, user_id=user_id, conversation_id=rows[0]["id"]
    )
    return conversation, bool(inserted)


# -- the thread -------------------------------------------------------------------------------


def _message_out(row: dict[str, Any], user_id: UUID) -> MessageOut:
    attachment = None
    if row["attachment_name"] is not None:
        attachment = AttachmentOut(
            filename=row["attachment_name"],
            size_bytes=row["attachment_size"],
            mime_type=row["attachment_mime"],
        )
    return MessageOut(
        id=row["id"],
        conversation_id=row["conversation_id"],
        sender_id=row["sender_id"],
        mine=row["sender_id"] == user_id,
        content=row["content"],
        attachment=attachment,
        read_at=row["read_at"],
        created_at=row["created_at"],
    )


_MESSAGE_COLUMNS = (
    "m.id, m.conversation_id, m.sender_id, m.content, m.attachment_name, m.attachment_size,"
    " m.attachment_mime, m.read_at, m.created_at"
)


async def get_thread(
    *,
    settings: Settings,
    storage: Storage,
    user_id: UUID,
    conversation_id: UUID,
    cursor: str | None,
    limit: int,
) -> ThreadOut:
    """A conversation and its messages, newest first; `cursor` pages to older ones."""
    pair = await _pair(conversation_id=conversation_id, user_id=user_id)
    cursors = Cursors(settings, "messages")
    position = cursors.decode(cursor)
    after, values = "", []
    if position is not None:
        after = " AND (m.created_at, m.id) < ({}, {})"
        values = [datetime.fromisoformat(position["at"]), UUID(position["id"])]
    rows = await Message.raw(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = {{}}{after}"
        " ORDER BY m.created_at DESC, m.id DESC LIMIT {}",
        pair.id,
        *values,
        limit + 1,
    )
    conversations = await _conversation_outs(storage, [await _own_row(pair, user_id)])
    if not conversations:
        raise _no_such_conversation()
    return ThreadOut(
        conversation=conversations[0],
        items=[_message_out(row, user_id) for row in rows[:limit]],
        next_cursor=cursors.next_cursor(rows, limit, newest_first_position),
    )


# -- sending ----------------------------------------------------------------------------------


async def _name_of(user_id: UUID) -> str:
    rows = await User.raw(
        "SELECT u.display_name, a.stage_name FROM users u"
        " LEFT JOIN artists a ON a.user_id = u.id WHERE u.id = {}",
        user_id,
    )
    if not rows:
        return "Someone"
    name: str = rows[0]["stage_name"] or rows[0]["display_name"] or "Someone"
    return name


def conversation_url(settings: Settings, conversation_id: UUID) -> str:
    return f"{settings.app_url.rstrip('/')}/messages/{conversation_id}"


def _message_id_of(key: str, conversation_id: UUID) -> UUID:
    """The message id `create_attachment_upload` put in the key."""
    prefix = f"attachments/{conversation_id}/"
    if not key.startswith(prefix):  # pragma: no cover - we signed this key ourselves
        raise _no_such_upload()
    return UUID(key[len(prefix) : len(prefix) + 36])


# Sending, after the inbox bump: {side} is the sender's side of the conversation, {other}
# the recipient's. The recipient gets an email unless one about this conversation is recent
# ($5 is the send time less NOTIFY_EVERY) or still unread; `notify` says the throttle let
# this one through (only this statement sets notified_at to the send time, $1).
_SEND_SQL = (
    "WITH updated AS ("
    " UPDATE conversations SET last_message_at = $1, last_activity_at = $1,"
    " last_message_preview = $2, last_message_by = {side},"
    " unread_count_{other} = unread_count_{other} + 1, version_1 = $3, version_2 = $4,"
    " updated_at = $1, notified_at_{other} = CASE WHEN notified_at_{other} IS NULL"
    "  OR (notified_at_{other} <= $5 AND last_read_at_{other} >= notified_at_{other})"
    "  THEN $1 ELSE notified_at_{other} END"
    " WHERE id = $6 RETURNING id, notified_at_{other} = $1 AS notify),"
    " inserted AS ("
    " INSERT INTO messages (id, conversation_id, sender_id, content, attachment_key,"
    "  attachment_name, attachment_size, attachment_mime, attachment_counted, created_at)"
    " SELECT $7, id, $8, $9, $10, $11, $12, $13, $14, $1 FROM updated RETURNING id)"
    " SELECT u.notify FROM updated u JOIN inserted i ON true"
)


async def create_message(
    *,
    settings: Settings,
    redis: Redis,
    storage: Storage,
    metrics: Metrics,
    user_id: UUID,
    conversation_id: UUID,
    message: MessageCreateIn,
) -> MessageOut:
    """Send a message (D-043), maybe with an uploaded file; the recipient may get an email.

    D-087: no rate limit. The last message, the recipient's unread count, both inbox
    versions and the email (at most one per conversation every 15 minutes, and none until
    the last one was read) change in one transaction with the message.
    """
    pair = await _pair(conversation_id=conversation_id, user_id=user_id)
    side = pair.side_of(user_id)
    other = _other(side)
    recipient = pair.participant(other)
    message_id = uuid.uuid4()
    verified = None
    artist_id = None
    if message.upload_id is not None:
        # A file that is not what it was declared to be is deleted here and refused.
        verified = await uploads.verify(
            storage=storage,
            metrics=metrics,
            user_id=user_id,
            upload_id=message.upload_id,
            purpose="attachment",
        )
        if verified.conversation_id != pair.id:
            raise _no_such_upload()
        message_id = _message_id_of(verified.key, pair.id)
        # D-026: an artist's attachments count against their quota; venues have none.
        artist_id = await artists_service.get_artist_id(user_id=user_id)
    async with DB.transaction():
        if len(await _lock_users(pair.user_ids)) < 2:
            raise _no_such_conversation()
        bumped = await _bump(pair.user_ids)
        versions = bumped.versions
        if verified is not None:
            await uploads.consume(upload_id=verified.upload_id)
            if artist_id is not None:
                await files_service.reserve_storage(
                    artist_id=artist_id, size_bytes=verified.size_bytes
                )
        # After the bump: every other write to either inbox waits for this commit, so the
        # times of a conversation's messages follow the order of their commits.
        sent_at = bumped.at
        # The conversation's new last message, the recipient's unread count and email
        # throttle, and the message itself: one statement (docs/performance.md).
        sent = await db.fetch(
            _SEND_SQL.format(side=side, other=other),
            sent_at,
            _preview(message.content),
            versions[pair.participant_1_id],
            versions[pair.participant_2_id],
            sent_at - NOTIFY_EVERY,
            pair.id,
            message_id,
            user_id,
            message.content,
            verified.key if verified else None,
            verified.filename if verified else None,
            verified.size_bytes if verified else None,
            verified.mime_type if verified else None,
            artist_id is not None,
        )
        if not sent:
            raise _no_such_conversation()
        if sent[0]["notify"]:
            # Queued with the message: a rolled-back send mails nothing; preferences decide.
            await notifications.notify_user(
                user_id=recipient,
                kind="message",
                payload=MessagePayload(
                    sender_name=await _name_of(user_id),
                    conversation_url=conversation_url(settings, pair.id),
                ),
            )
    await inbox_cache.store(redis, versions)
    # What was just written, as a read of it would give (no statement to read it back).
    written = {
        "id": message_id,
        "conversation_id": pair.id,
        "sender_id": user_id,
        "content": message.content,
        "attachment_name": verified.filename if verified else None,
        "attachment_size": verified.size_bytes if verified else None,
        "attachment_mime": verified.mime_type if verified else None,
        "read_at": None,
        "created_at": sent_at,
    }
    return _message_out(written, user_id)


# -- reading ----------------------------------------------------------------------------------


async def update_read(*, redis: Redis, user_id: UUID, conversation_id: UUID) -> ReadOut:
    """Mark the messages sent to the caller read; their unread count goes to zero."""
    pair = await _pair(conversation_id=conversation_id, user_id=user_id)
    side = pair.side_of(user_id)
    pending = await Conversation.raw(
        f"SELECT c.unread_count_{side} > 0 OR EXISTS (SELECT 1 FROM messages m"
        " WHERE m.conversation_id = c.id AND m.sender_id <> {} AND m.read_at IS NULL) AS unread"
        " FROM conversations c WHERE c.id = {}",
        user_id,
        pair.id,
    )
    if not pending or not pending[0]["unread"]:
        # Nothing to mark: no version moves, so no poller refreshes for nothing.
        return ReadOut(conversation_id=pair.id, marked_read=0, unread_count=0)
    async with DB.transaction():
        if len(await _lock_users(pair.user_ids)) < 2:
            raise _no_such_conversation()
        # Both sides: the reader's unread count, and what the other side sees as seen.
        bumped = await _bump(pair.user_ids)
        versions = bumped.versions
        # Taken after the bump, like a message's time: every message this marks was sent
        # before it, so "seen" (created_at <= last_read_at) and the email throttle hold.
        read_at = bumped.at
        marked = await Message.raw(
            "UPDATE messages SET read_at = {} WHERE conversation_id = {} AND sender_id <> {}"
            " AND read_at IS NULL RETURNING id",
            read_at,
            pair.id,
            user_id,
        )
        updated = await Conversation.raw(
            f"UPDATE conversations SET unread_count_{side} = 0, last_read_at_{side} = {{}},"
            " version_1 = {}, version_2 = {}, updated_at = {} WHERE id = {} RETURNING id",
            read_at,
            versions[pair.participant_1_id],
            versions[pair.participant_2_id],
            read_at,
            pair.id,
        )
        if not updated:
            raise _no_such_conversation()
    await inbox_cache.store(redis, versions)
    return ReadOut(conversation_id=pair.id, marked_read=len(marked), unread_count=0)


# -- attachments ------------------------------------------------------------------------------


def attachment_filename(filename: str, media: uploads.MediaType) -> str:
    """The name to store: no folders, an ending that fits the type (added if missing)."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(char for char in name if char.isprintable())
    if not name or name in {".", ".."}:
        raise ValidationFailed("Give the file a name.", field="filename")
    stem, dot, ending = name.rpartition(".")
    if not dot or not stem:
        return f"{name}.{media.extension}"[-255:]
    if ending.lower() not in _EXTENSIONS[media.mime]:
        raise ValidationFailed(
            f"A file named .{ending} cannot be sent as {media.extension.upper()}: name it"
            f" .{media.extension}.",
            field="filename",
        )
    return name


def _key_name(filename: str) -> str:
    """The file name as it appears in the object key: plain ASCII, never a path."""
    safe = _UNSAFE_KEY_CHARS.sub("_", filename).strip("._") or "file"
    return safe[-KEY_NAME_CHARS:]


async def create_attachment_upload(
    *, storage: Storage, metrics: Metrics, user_id: UUID, upload: AttachmentUploadIn
) -> AttachmentUploadOut:
    """Sign the upload of one file to a conversation the caller is in (SPEC §3.5 limits)."""
    pair = await _pair(conversation_id=upload.conversation_id, user_id=user_id)
    media = uploads.media_type(upload.content_type, kinds=ATTACHMENT_KINDS)
    filename = attachment_filename(upload.filename, media)
    artist_id = await artists_service.get_artist_id(user_id=user_id)
    # An oversized file is refused by `start` (413); anything else must fit the quota (D-026).
    if artist_id is not None and upload.size_bytes <= media.max_bytes:
        await files_service.check_storage(artist_id=artist_id, size_bytes=upload.size_bytes)
    # The message's id is chosen now and travels in the key (SPEC §3.5 layout).
    message_id = uuid.uuid4()
    ticket = await uploads.start(
        storage=storage,
        metrics=metrics,
        user_id=user_id,
        purpose="attachment",
        key=f"attachments/{pair.id}/{message_id}-{_key_name(filename)}",
        media=media,
        size_bytes=upload.size_bytes,
        filename=filename,
        conversation_id=pair.id,
    )
    return AttachmentUploadOut.of(ticket, message_id=message_id, filename=filename)


async def get_attachment_link(
    *,
    storage: Storage,
    user_id: UUID,
    conversation_id: UUID,
    message_id: UUID,
    disposition: Disposition = "attachment",
) -> AttachmentLinkOut:
    """A one-hour link to a message's file that saves or shows it, for the two participants."""
    pair = await _pair(conversation_id=conversation_id, user_id=user_id)
    rows = await Message.raw(
        "SELECT attachment_key, attachment_name, attachment_size, attachment_mime FROM messages"
        " WHERE id = {} AND conversation_id = {} AND attachment_key IS NOT NULL",
        message_id,
        pair.id,
    )
    if not rows:
        raise NotFound("This message has no attachment.", field="message_id")
    row = rows[0]
    url = await files_service.download_link(
        storage=storage,
        key=row["attachment_key"],
        filename=row["attachment_name"],
        mime=row["attachment_mime"],
        expires=ATTACHMENT_URL_EXPIRY,
        disposition=disposition,
    )
    return AttachmentLinkOut(
        url=url,
        expires_at=datetime.now(UTC) + ATTACHMENT_URL_EXPIRY,
        filename=row["attachment_name"],
        size_bytes=row["attachment_size"],
        mime_type=row["attachment_mime"],
    )
