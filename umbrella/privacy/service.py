"""Settings and account deletion (SPEC §3.9, D-102); the data export is in `export.py`.

Deletion is one transaction: it locks the user, fixes the numbers other people see (follower
counts, ratings, gig slots) while the rows that explain them still exist, deletes what the
cascades would only anonymise, then deletes the user and lets the foreign keys' cascades
remove the rest. The S3 objects and the Redis copies of the sessions are removed by jobs
queued in that same transaction, so a committed deletion always gets its cleanup.
See docs/account-data.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
from redis.asyncio import Redis

from umbrella import jobs
from umbrella.accounts.service import PURGE_SESSION_CACHE_JOB, forget_cached_sessions
from umbrella.artists import cache as profile_cache
from umbrella.artists.tables import Artist
from umbrella.core import db, search_cache
from umbrella.core.caller import Caller
from umbrella.core.errors import Unauthorized
from umbrella.piccolo_conf import DB
from umbrella.privacy.schemas import SettingsOut
from umbrella.reviews import service as reviews_service
from umbrella.storage import service as storage_service

log = logging.getLogger(__name__)

# An upload signed before the deletion may still land until its policy expires: a second
# cleanup runs just after the last one could.
LATE_UPLOAD_MARGIN = timedelta(minutes=1)
# The cascades of a large account (a big fan list, many broadcasts) outlast the default
# 10 s statement timeout; a deletion must finish rather than fail half-way for big users.
DELETE_STATEMENT_TIMEOUT = "5min"
DELETE_ATTEMPTS = 3


def account_gone() -> Unauthorized:
    # A session can outlive its user only in a Redis copy not purged yet: treat it as revoked.
    return Unauthorized("This account no longer exists. Sign in again.")


# -- settings ------------------------------------------------------------------------------

_SETTINGS_COLUMNS = "email, phone, notify_email, notify_sms"


async def get_settings(*, caller: Caller) -> SettingsOut:
    """The caller's notification preferences and phone number."""
    return await _settings_of(caller.user_id)


async def _settings_of(user_id: UUID) -> SettingsOut:
    rows = await db.fetch(f"SELECT {_SETTINGS_COLUMNS} FROM users WHERE id = $1", user_id)
    if not rows:
        raise account_gone()
    return SettingsOut.model_validate(rows[0])


async def update_settings(*, caller: Caller, changes: dict[str, Any], redis: Redis) -> SettingsOut:
    """Change some of the caller's settings (only the keys given) and return all of them."""
    user_id = caller.user_id
    columns = {"notify_email", "notify_sms", "phone"}
    unknown = set(changes) - columns
    if unknown:
        raise ValueError(f"not settings: {sorted(unknown)}")
    if not changes:
        return await _settings_of(user_id)
    names = sorted(changes)
    # $1 … $n the new values (in `names` order), $n+1 the user.
    assignments = ", ".join(f"{name} = ${number}" for number, name in enumerate(names, start=1))
    async with DB.transaction():
        rows = await db.fetch(
            f"UPDATE users SET {assignments}, updated_at = now() WHERE id = ${len(names) + 1}"
            f" RETURNING {_SETTINGS_COLUMNS}",
            *[changes[name] for name in names],
            user_id,
        )
        if not rows:
            raise account_gone()
        # The own profile shows the phone number, and it is served from the profile cache.
        artists = await Artist.select(Artist.id).where(Artist.user_id == user_id)
        changed = [row["id"] for row in artists] if "phone" in changes else []
        await profile_cache.forget_later(changed)
    await profile_cache.forget(redis, changed)
    return SettingsOut.model_validate(rows[0])


# -- deletion ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountDeletion:
    """What a deletion did, for the caller's log or an operator's report."""

    user_id: UUID
    artist_id: UUID | None
    sessions_revoked: int
    prefixes: tuple[str, ...]
    profiles_changed: tuple[UUID, ...]


def _prefixes(artist_id: UUID | None, conversation_ids: list[UUID]) -> list[str]:
    """The bucket folders of an account (SPEC §3.5 layout)."""
    prefixes = []
    if artist_id is not None:
        prefixes += [f"{root}/{artist_id}/" for root in ("profiles", "tracks", "media", "files")]
    prefixes += [f"attachments/{conversation_id}/" for conversation_id in conversation_ids]
    return prefixes


async def _ids(sql: str, *args: Any, column: str = "id") -> list[Any]:
    return [row[column] for row in await db.fetch(sql, *args)]


async def _give_back_gig_slots(artist_id: UUID) -> None:
    # Gig before application, the order accepting one takes them, so neither waits on the
    # other in a cycle; an accept in flight commits first and its slot is then given back.
    await db.fetch(
        "SELECT id FROM gigs WHERE id IN"
        " (SELECT gig_id FROM gig_applications WHERE artist_id = $1)"
        " ORDER BY id FOR NO KEY UPDATE",
        artist_id,
    )
    # A completed gig keeps its history; any other gets the slot back (gigs_open_check:
    # a filled gig is open again once a slot is free).
    await db.fetch(
        "UPDATE gigs SET filled_slots = filled_slots - 1,"
        " status = CASE WHEN status = 'filled' THEN 'open' ELSE status END, updated_at = now()"
        " WHERE id IN (SELECT gig_id FROM gig_applications"
        "              WHERE artist_id = $1 AND status = 'accepted')"
        " AND status <> 'completed' AND filled_slots > 0",
        artist_id,
    )


async def _fix_other_artists(user_id: UUID, artist_id: UUID | None) -> list[UUID]:
    """Recount the followers and ratings of the artists this user followed or reviewed."""
    followed = await _ids(
        "SELECT artist_id FROM artist_followers WHERE follower_user_id = $1",
        user_id,
        column="artist_id",
    )
    reviewed = await _ids(
        "SELECT DISTINCT artist_id FROM reviews WHERE reviewer_user_id = $1",
        user_id,
        column="artist_id",
    )
    others = sorted(set(followed + reviewed) - {artist_id})
    recount = sorted(set(followed) - {artist_id})
    if others:
        # In id order, so transactions locking several artists queue rather than cross.
        await db.fetch(
            "SELECT id FROM artists WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE",
            others,
        )
    await db.fetch("DELETE FROM artist_followers WHERE follower_user_id = $1", user_id)
    if recount:
        # A recount, not a decrement: exact whatever the counter said before.
        await db.fetch(
            "UPDATE artists a SET updated_at = now(), follower_count ="
            " (SELECT count(*) FROM artist_followers f WHERE f.artist_id = a.id)"
            " WHERE a.id = ANY($1::uuid[])",
            recount,
        )
    # What someone wrote goes with them (the foreign key alone would keep it, anonymised).
    await db.fetch("DELETE FROM reviews WHERE reviewer_user_id = $1", user_id)
    for reviewed_id in sorted(set(reviewed) - {artist_id}):
        await reviews_service.refresh_artist_rating(artist_id=reviewed_id)
    if artist_id is not None:
        await db.fetch("DELETE FROM venue_reviews WHERE reviewer_artist_id = $1", artist_id)
    return others


async def _delete_rows(user_id: UUID) -> tuple[AccountDeletion, list[str]]:
    await db.fetch(f"SET LOCAL statement_timeout = '{DELETE_STATEMENT_TIMEOUT}'")
    # FOR UPDATE also holds off every new row that would reference the user or their artist
    # (a follow, a review, a message): nothing can appear that the steps below would miss.
    if not await db.fetch("SELECT id FROM users WHERE id = $1 FOR UPDATE", user_id):
        raise account_gone()
    artists = await _ids("SELECT id FROM artists WHERE user_id = $1 FOR UPDATE", user_id)
    artist_id: UUID | None = artists[0] if artists else None
    conversation_ids = await _ids(
        "SELECT id FROM conversations WHERE participant_1_id = $1 OR participant_2_id = $1"
        " ORDER BY id",
        user_id,
    )
    token_hashes = await _ids(
        "SELECT token_hash FROM sessions WHERE user_id = $1", user_id, column="token_hash"
    )
    prefixes = _prefixes(artist_id, conversation_ids)
    # Objects our rows name outside those folders (none with today's key layout).
    stray_keys = await _ids(
        "SELECT key FROM ("
        "  SELECT file_key AS key FROM tracks WHERE artist_id = $1 AND file_key IS NOT NULL"
        "  UNION SELECT s3_key FROM files WHERE artist_id = $1"
        "  UNION SELECT s3_key FROM pending_uploads WHERE user_id = $2"
        "  UNION SELECT attachment_key FROM messages WHERE attachment_key IS NOT NULL"
        "    AND conversation_id = ANY($3::uuid[])"
        ") AS keys WHERE NOT key LIKE ANY($4::text[])",
        artist_id,
        user_id,
        conversation_ids,
        [f"{prefix}%" for prefix in prefixes],
        column="key",
    )
    last_upload = await db.fetch(
        "SELECT max(expires_at) AS until FROM pending_uploads WHERE user_id = $1", user_id
    )

    if artist_id is not None:
        await _give_back_gig_slots(artist_id)
        # Invitations the artist emailed to others name them: they go too.
        await db.fetch(
            "DELETE FROM notifications WHERE kind = 'review_invitation'"
            " AND payload->>'invitation_id' IN"
            " (SELECT id::text FROM review_invitations WHERE artist_id = $1)",
            artist_id,
        )
    others = await _fix_other_artists(user_id, artist_id)
    await db.fetch("DELETE FROM users WHERE id = $1", user_id)

    changed = sorted({*others, *([artist_id] if artist_id else [])})
    await profile_cache.forget_later(changed)
    if token_hashes:
        await jobs.enqueue(PURGE_SESSION_CACHE_JOB, {"token_hashes": token_hashes})
    await storage_service.delete_objects_later(keys=stray_keys, prefixes=prefixes)
    until = last_upload[0]["until"]
    now = datetime.now(UTC)
    if until is not None and until > now:
        await storage_service.delete_objects_later(
            keys=stray_keys, prefixes=prefixes, delay=until - now + LATE_UPLOAD_MARGIN
        )
    deletion = AccountDeletion(
        user_id=user_id,
        artist_id=artist_id,
        sessions_revoked=len(token_hashes),
        prefixes=tuple(prefixes),
        profiles_changed=tuple(changed),
    )
    return deletion, token_hashes


async def _delete_in_transaction(user_id: UUID) -> tuple[AccountDeletion, list[str]]:
    attempt = 1
    while True:
        try:
            async with DB.transaction():
                return await _delete_rows(user_id)
        except asyncpg.exceptions.DeadlockDetectedError:
            # The user's rows are locked against writers that may already hold a share of
            # them (a follow or a review in flight); Postgres breaks such a cycle by failing
            # one side. Everything rolled back: run the whole deletion again.
            if attempt >= DELETE_ATTEMPTS:
                raise
            log.warning("account deletion deadlocked; trying again", extra={"attempt": attempt})
            attempt += 1


async def delete_own_account(*, caller: Caller, redis: Redis) -> AccountDeletion:
    """The caller deletes their own account (D-102); an admin names the user (delete_account)."""
    return await delete_account(user_id=caller.user_id, redis=redis)


async def delete_account(*, user_id: UUID, redis: Redis) -> AccountDeletion:
    """Delete a user and everything they own, revoke their sessions, queue their S3 cleanup."""
    deletion, token_hashes = await _delete_in_transaction(user_id)
    # Fast paths only: the jobs queued with the deletion make sure of both. With Redis
    # unreachable the session cache's epoch is raised, so no copy is trusted meanwhile.
    if token_hashes:
        await forget_cached_sessions(redis, token_hashes)
    await profile_cache.forget(redis, deletion.profiles_changed)
    # Their artist card, their gigs and the slots they gave back leave cached searches.
    for kind in search_cache.KINDS:
        await search_cache.forget(redis, kind=kind)
    log.info(
        "account deleted",
        extra={
            "user_id": str(user_id),
            "artist_id": str(deletion.artist_id) if deletion.artist_id else None,
            "sessions_revoked": deletion.sessions_revoked,
            "prefixes": len(deletion.prefixes),
        },
    )
    return deletion
