"""A conversation's thread: reading it, sending a message (D-043) and marking messages read.

Sending and reading take the locks and the inbox bump `service.py` describes, and change
the conversation's summary (last message, unread count, the recipient's email throttle) in
the same transaction as the messages.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from uuid import UUID

from redis.asyncio import Redis

from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.pagination import Pager
from umbrella.core.sql import Conditions
from umbrella.core.storage import Storage
from umbrella.messaging import cache as inbox_cache
from umbrella.messaging.attachments import message_id_of, no_such_upload
from umbrella.messaging.schemas import (
    AttachmentOut,
    MessageCreateIn,
    MessageOut,
    ReadOut,
    ThreadOut,
)
from umbrella.messaging.service import (
    bump_inboxes,
    conversation_outs,
    find_pair,
    lock_users,
    no_such_conversation,
    other_side,
    own_row,
)
from umbrella.notifications import service as notifications
from umbrella.notifications.templates import MessagePayload
from umbrella.observability.metrics import Metrics
from umbrella.piccolo_conf import DB
from umbrella.storage import service as storage_service
from umbrella.storage import uploads

PREVIEW_CHARS = 140  # conversations.last_message_preview
# At most one "New message from …" email per conversation and recipient in this time, and
# none again until they have read what the last one told them about.
NOTIFY_EVERY = timedelta(minutes=15)


def _preview(content: str) -> str:
    flat = " ".join(content.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


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
    caller: Caller,
    conversation_id: UUID,
    cursor: str | None,
    limit: int,
) -> ThreadOut:
    """A conversation and its messages, newest first; `cursor` pages to older ones."""
    user_id = caller.user_id
    pair = await find_pair(conversation_id=conversation_id, user_id=user_id)
    pager = Pager(settings, "messages", cursor=cursor, limit=limit)
    where = Conditions()
    where.add("m.conversation_id = {}", pair.id)
    pager.narrow(where, alias="m")
    rows = await db.fetch(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages m WHERE {where.sql}"
        f" ORDER BY {pager.order_by('m')} LIMIT {where.param(pager.fetch)}",
        *where.values,
    )
    conversations = await conversation_outs(storage, [await own_row(pair, user_id)])
    if not conversations:
        raise no_such_conversation()
    page = pager.page(rows, lambda row: _message_out(row, user_id))
    return ThreadOut(conversation=conversations[0], items=page.items, next_cursor=page.next_cursor)


# -- sending ----------------------------------------------------------------------------------


async def _name_of(user_id: UUID) -> str:
    rows = await db.fetch(
        "SELECT u.display_name, a.stage_name FROM users u"
        " LEFT JOIN artists a ON a.user_id = u.id WHERE u.id = $1",
        user_id,
    )
    if not rows:
        return "Someone"
    name: str = rows[0]["stage_name"] or rows[0]["display_name"] or "Someone"
    return name


def conversation_url(settings: Settings, conversation_id: UUID) -> str:
    return f"{settings.app_url.rstrip('/')}/messages/{conversation_id}"


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
    caller: Caller,
    conversation_id: UUID,
    message: MessageCreateIn,
) -> MessageOut:
    """Send a message (D-043), maybe with an uploaded file; the recipient may get an email.

    D-087: no rate limit. The last message, the recipient's unread count, both inbox
    versions and the email (at most one per conversation every 15 minutes, and none until
    the last one was read) change in one transaction with the message.
    """
    user_id = caller.user_id
    pair = await find_pair(conversation_id=conversation_id, user_id=user_id)
    side = pair.side_of(user_id)
    other = other_side(side)
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
            raise no_such_upload()
        message_id = message_id_of(verified.key, pair.id)
        # D-026: an artist's attachments count against their quota; venues have none.
        artist_id = await caller.artist_id()
    async with DB.transaction():
        if len(await lock_users(pair.user_ids)) < 2:
            raise no_such_conversation()
        bumped = await bump_inboxes(pair.user_ids)
        versions = bumped.versions
        if verified is not None:
            await uploads.consume(upload_id=verified.upload_id)
            if artist_id is not None:
                await storage_service.reserve_storage(
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
            raise no_such_conversation()
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


async def mark_conversation_read(*, redis: Redis, caller: Caller, conversation_id: UUID) -> ReadOut:
    """Mark the messages sent to the caller read; their unread count goes to zero."""
    user_id = caller.user_id
    pair = await find_pair(conversation_id=conversation_id, user_id=user_id)
    side = pair.side_of(user_id)
    pending = await db.fetch(
        f"SELECT c.unread_count_{side} > 0 OR EXISTS (SELECT 1 FROM messages m"
        " WHERE m.conversation_id = c.id AND m.sender_id <> $1 AND m.read_at IS NULL) AS unread"
        " FROM conversations c WHERE c.id = $2",
        user_id,
        pair.id,
    )
    if not pending or not pending[0]["unread"]:
        # Nothing to mark: no version moves, so no poller refreshes for nothing.
        return ReadOut(conversation_id=pair.id, marked_read=0, unread_count=0)
    async with DB.transaction():
        if len(await lock_users(pair.user_ids)) < 2:
            raise no_such_conversation()
        # Both sides: the reader's unread count, and what the other side sees as seen.
        bumped = await bump_inboxes(pair.user_ids)
        versions = bumped.versions
        # Taken after the bump, like a message's time: every message this marks was sent
        # before it, so "seen" (created_at <= last_read_at) and the email throttle hold.
        read_at = bumped.at
        marked = await db.fetch(
            "UPDATE messages SET read_at = $1 WHERE conversation_id = $2 AND sender_id <> $3"
            " AND read_at IS NULL RETURNING id",
            read_at,
            pair.id,
            user_id,
        )
        updated = await db.fetch(
            f"UPDATE conversations SET unread_count_{side} = 0, last_read_at_{side} = $1,"
            " version_1 = $2, version_2 = $3, updated_at = $1 WHERE id = $4 RETURNING id",
            read_at,
            versions[pair.participant_1_id],
            versions[pair.participant_2_id],
            pair.id,
        )
        if not updated:
            raise no_such_conversation()
    await inbox_cache.store(redis, versions)
    return ReadOut(conversation_id=pair.id, marked_read=len(marked), unread_count=0)
