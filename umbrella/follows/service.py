"""Follows: users following artists, with follower counts kept exact.

A follow is one row per (artist, follower); the count on the artist moves only when a
row really came or went (`INSERT … ON CONFLICT DO NOTHING RETURNING`, `DELETE …
RETURNING`) and by an increment the database applies to the latest row version, in the
same transaction, so concurrent follows can neither lose nor double a count.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
from redis.asyncio import Redis

from umbrella.artists import cache as profile_cache
from umbrella.artists.tables import Artist
from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.errors import NotFound, ValidationFailed
from umbrella.core.pagination import Keyset, ListPage, Pager
from umbrella.core.sql import Conditions
from umbrella.follows.schemas import FollowedArtistOut, FollowerOut, FollowOut
from umbrella.piccolo_conf import DB

# Newest follow first; the cursor key is `created_at`, as in cursors already handed out.
BY_FOLLOWED_AT = Keyset("created_at", "created_at", descending=True, parse=datetime.fromisoformat)


def _no_such_artist() -> NotFound:
    return NotFound("No such artist.", field="artist_id")


async def _check_followable(*, user_id: UUID, artist_id: UUID) -> None:
    owner = await Artist.select(Artist.user_id).where(Artist.id == artist_id).first()
    if owner is None:
        raise _no_such_artist()
    if owner["user_id"] == user_id:
        raise ValidationFailed("You cannot follow yourself.", field="artist_id")


async def _follower_count(artist_id: UUID) -> int:
    rows = await db.fetch("SELECT follower_count FROM artists WHERE id = $1", artist_id)
    if not rows:
        raise _no_such_artist()
    count: int = rows[0]["follower_count"]
    return count


async def create_follow(*, redis: Redis, caller: Caller, artist_id: UUID) -> FollowOut:
    """Follow an artist; following again changes nothing and answers the same."""
    await _check_followable(user_id=caller.user_id, artist_id=artist_id)
    async with DB.transaction():
        try:
            added = await db.fetch(
                "INSERT INTO artist_followers (artist_id, follower_user_id) VALUES ($1, $2)"
                " ON CONFLICT ON CONSTRAINT artist_followers_artist_id_follower_user_id_key"
                " DO NOTHING RETURNING id",
                artist_id,
                caller.user_id,
            )
        except asyncpg.ForeignKeyViolationError:  # the artist left a moment ago
            raise _no_such_artist() from None
        count = await _count_followers(artist_id, change=1 if added else 0)
    if added:
        await profile_cache.forget(redis, [artist_id])
    return FollowOut(artist_id=artist_id, following=True, follower_count=count)


async def _count_followers(artist_id: UUID, *, change: int) -> int:
    """The follower count after a follow (+1), an unfollow (-1) or a repeat (0)."""
    if change == 0:
        return await _follower_count(artist_id)
    counted = await db.fetch(
        "UPDATE artists SET follower_count = GREATEST(follower_count + $1, 0)"
        " WHERE id = $2 RETURNING follower_count",
        change,
        artist_id,
    )
    await profile_cache.forget_later([artist_id])
    count: int = counted[0]["follower_count"]
    return count


async def delete_follow(*, redis: Redis, caller: Caller, artist_id: UUID) -> FollowOut:
    """Unfollow an artist; unfollowing again changes nothing and answers the same."""
    await _check_followable(user_id=caller.user_id, artist_id=artist_id)
    async with DB.transaction():
        removed = await db.fetch(
            "DELETE FROM artist_followers WHERE artist_id = $1 AND follower_user_id = $2"
            " RETURNING id",
            artist_id,
            caller.user_id,
        )
        count = await _count_followers(artist_id, change=-1 if removed else 0)
    if removed:
        await profile_cache.forget(redis, [artist_id])
    return FollowOut(artist_id=artist_id, following=False, follower_count=count)


async def list_followers(
    *, settings: Settings, artist_id: UUID, cursor: str | None, limit: int
) -> ListPage[FollowerOut]:
    """Who follows an artist, newest first: names only, and the artist profile of artists."""
    if not await Artist.exists().where(Artist.id == artist_id):
        raise _no_such_artist()
    pager = Pager(settings, "followers", cursor=cursor, limit=limit, keyset=BY_FOLLOWED_AT)
    where = Conditions()
    where.add("f.artist_id = {}", artist_id)
    pager.narrow(where, alias="f")
    rows = await db.fetch(
        "SELECT f.id, f.created_at, f.created_at AS followed_at, u.display_name,"
        " a.id AS artist_id, a.stage_name"
        " FROM artist_followers f"
        " JOIN users u ON u.id = f.follower_user_id"
        " LEFT JOIN artists a ON a.user_id = f.follower_user_id"
        f" WHERE {where.sql}"
        f" ORDER BY {pager.order_by('f')} LIMIT {where.param(pager.fetch)}",
        *where.values,
    )
    return pager.page(rows, FollowerOut.model_validate)


async def list_following(
    *, settings: Settings, caller: Caller, cursor: str | None, limit: int
) -> ListPage[FollowedArtistOut]:
    """The artists the caller follows, most recently followed first."""
    pager = Pager(settings, "following", cursor=cursor, limit=limit, keyset=BY_FOLLOWED_AT)
    where = Conditions()
    where.add("f.follower_user_id = {}", caller.user_id)
    pager.narrow(where, alias="f")
    rows = await db.fetch(
        "SELECT f.id, f.created_at, f.created_at AS followed_at, a.id AS artist_id,"
        " a.stage_name, a.avatar_url"
        " FROM artist_followers f JOIN artists a ON a.id = f.artist_id"
        f" WHERE {where.sql}"
        f" ORDER BY {pager.order_by('f')} LIMIT {where.param(pager.fetch)}",
        *where.values,
    )
    return pager.page(rows, FollowedArtistOut.model_validate)
