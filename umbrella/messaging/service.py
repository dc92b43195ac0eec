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

This module holds those rules (the pair, the locks, the bump) and the conversation itself:
as each side sees it, and starting one. Beside it: `polling.py` the inbox poll,
`messages.py` the thread (sending, reading), `attachments.py` the files sent in one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from redis.asyncio import Redis

from umbrella.accounts.tables import User
from umbrella.artists.service import IMAGE_URL_EXPIRY
from umbrella.artists.tables import Artist
from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.errors import NotFound, ValidationFailed
from umbrella.core.storage import Storage
from umbrella.messaging import cache as inbox_cache
from umbrella.messaging.schemas import ConversationCreateIn, ConversationOut, ParticipantOut
from umbrella.piccolo_conf import DB

log = logging.getLogger(__name__)

Side = Literal[1, 2]


def no_such_conversation() -> NotFound:
    """The one answer for a conversation that is not there or not the caller's."""
    return NotFound("No such conversation.", field="conversation_id")


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


def other_side(side: Side) -> Side:
    """The side of the other participant."""
    return 2 if side == 1 else 1


async def find_pair(*, conversation_id: UUID, user_id: UUID) -> Pair:
    """The conversation, if the caller is in it; 404 otherwise (its existence stays private)."""
    rows = await db.fetch(
        "SELECT id, participant_1_id, participant_2_id FROM conversations"
        " WHERE id = $1 AND $2::uuid IN (participant_1_id, participant_2_id)",
        conversation_id,
        user_id,
    )
    if not rows:
        raise no_such_conversation()
    return Pair(rows[0]["id"], rows[0]["participant_1_id"], rows[0]["participant_2_id"])


async def lock_users(user_ids: Iterable[UUID]) -> set[UUID]:
    """Hold off the deletion of these users until the commit; the ones that still exist."""
    rows = await db.fetch(
        "SELECT id FROM users WHERE id = ANY($1::uuid[]) ORDER BY id FOR KEY SHARE",
        sorted(set(user_ids)),
    )
    return {row["id"] for row in rows}


@dataclass(frozen=True)
class Bumped:
    versions: dict[UUID, int]
    at: datetime  # the database's clock once every bumped row was locked


async def bump_inboxes(user_ids: Iterable[UUID]) -> Bumped:
    """Give each user's inbox its next version (row locks in id order); queue the Redis copy.

    One statement for both users: rows are upserted, and so locked, in the order of the
    sorted ids, so two bumps of the same pair never deadlock. The latest `clock_timestamp()`
    of the rows is read after the last lock was taken: a time for "after the locks".
    """
    rows = await db.fetch(
        "INSERT INTO inbox_versions (user_id, version)"
        " SELECT user_id, 1 FROM unnest($1::uuid[]) AS ids(user_id) ORDER BY user_id"
        " ON CONFLICT (user_id) DO UPDATE"
        " SET version = inbox_versions.version + 1, updated_at = now()"
        " RETURNING user_id, version, clock_timestamp() AS at",
        sorted(set(user_ids)),
    )
    versions = {row["user_id"]: int(row["version"]) for row in rows}
    await inbox_cache.sync_later(versions)
    return Bumped(versions=versions, at=max(row["at"] for row in rows))


# -- reading conversations --------------------------------------------------------------------


def side_sql(side: Side, *, user: str) -> str:
    """A conversation row as participant `side` sees it; `user` is their id's placeholder."""
    other = other_side(side)
    return (
        f"SELECT c.id, c.participant_{other}_id AS other_user_id, c.last_message_at,"
        f" c.last_message_preview, c.last_message_by = {side} AS last_message_mine,"
        f" c.unread_count_{side} AS unread_count, c.last_read_at_{other} AS other_last_read_at,"
        f" c.last_activity_at, c.created_at, c.version_{side} AS my_version"
        f" FROM conversations c WHERE c.participant_{side}_id = {user}"
    )


async def _participants(storage: Storage, user_ids: Sequence[UUID]) -> dict[UUID, ParticipantOut]:
    """The other people of some conversations: names and one-hour avatar links."""
    if not user_ids:
        return {}
    rows = await db.fetch(
        "SELECT u.id, u.role, u.display_name, a.id AS artist_id, a.stage_name, a.avatar_url"
        " FROM users u LEFT JOIN artists a ON a.user_id = u.id WHERE u.id = ANY($1::uuid[])",
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


async def conversation_outs(
    storage: Storage, rows: Sequence[dict[str, Any]]
) -> list[ConversationOut]:
    """Rows of `side_sql` as the inbox shows them, each with the other participant."""
    others = await _participants(storage, [row["other_user_id"] for row in rows])
    return [
        ConversationOut.model_validate({**row, "other": others[row["other_user_id"]]})
        for row in rows
        if row["other_user_id"] in others  # gone with an account deleted a moment ago
    ]


async def own_row(pair: Pair, user_id: UUID) -> dict[str, Any]:
    """The conversation's row as the caller's side sees it (`side_sql`)."""
    rows = await db.fetch(
        f"{side_sql(pair.side_of(user_id), user='$1')} AND c.id = $2", user_id, pair.id
    )
    if not rows:
        raise no_such_conversation()
    return rows[0]


async def get_conversation(
    *, storage: Storage, user_id: UUID, conversation_id: UUID
) -> ConversationOut:
    """One conversation as the caller's inbox shows it."""
    pair = await find_pair(conversation_id=conversation_id, user_id=user_id)
    outs = await conversation_outs(storage, [await own_row(pair, user_id)])
    if not outs:
        raise no_such_conversation()
    return outs[0]


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
    *, redis: Redis, storage: Storage, caller: Caller, choice: ConversationCreateIn
) -> tuple[ConversationOut, bool]:
    """The conversation with someone, started now (and True) or the one that exists already."""
    user_id = caller.user_id
    other_id, field = await _other_user(choice)
    if other_id == user_id:
        raise ValidationFailed("You cannot start a conversation with yourself.", field=field)
    low, high = sorted((user_id, other_id))
    versions: dict[UUID, int] = {}
    async with DB.transaction():
        if await lock_users((low, high)) != {low, high}:
            raise NotFound("No such user.", field=field)
        inserted = await db.fetch(
            "INSERT INTO conversations (participant_1_id, participant_2_id) VALUES ($1, $2)"
            " ON CONFLICT ON CONSTRAINT conversations_participant_1_id_participant_2_id_key"
            " DO NOTHING RETURNING id",
            low,
            high,
        )
        if inserted:
            # It shows in both inboxes from now on.
            versions = (await bump_inboxes((low, high))).versions
            await db.fetch(
                "UPDATE conversations SET version_1 = $1, version_2 = $2 WHERE id = $3",
                versions[low],
                versions[high],
                inserted[0]["id"],
            )
    await inbox_cache.store(redis, versions)
    # Whoever made it first, it is this one (a concurrent start by the other side included).
    rows = await db.fetch(
        "SELECT id FROM conversations WHERE participant_1_id = $1 AND participant_2_id = $2",
        low,
        high,
    )
    if not rows:  # the other account was deleted a moment ago
        raise NotFound("No such user.", field=field)
    conversation = await get_conversation(
        storage=storage, user_id=user_id, conversation_id=rows[0]["id"]
    )
    return conversation, bool(inserted)
