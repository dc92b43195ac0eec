"""Favorites: the gigs an artist saves, to come back to them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.pagination import NEWEST_FIRST, ListPage, Pager
from umbrella.core.sql import Conditions
from umbrella.gigs.schemas import FavoriteGigOut, FavoriteOut
from umbrella.gigs.service import GIG_COLUMNS, gig_outs, no_such_gig


async def create_favorite(*, caller: Caller, gig_id: UUID) -> FavoriteOut:
    """Save a gig (again: no change, same answer)."""
    artist_id = await caller.require_artist()
    try:
        await db.fetch(
            "INSERT INTO gig_favorites (gig_id, artist_id) VALUES ($1, $2)"
            " ON CONFLICT ON CONSTRAINT gig_favorites_gig_id_artist_id_key DO NOTHING",
            gig_id,
            artist_id,
        )
    except asyncpg.ForeignKeyViolationError:
        raise no_such_gig() from None
    return FavoriteOut(gig_id=gig_id, favorite=True)


async def delete_favorite(*, caller: Caller, gig_id: UUID) -> FavoriteOut:
    """Forget a saved gig (again: no change, same answer)."""
    artist_id = await caller.require_artist()
    await db.fetch(
        "DELETE FROM gig_favorites WHERE gig_id = $1 AND artist_id = $2", gig_id, artist_id
    )
    return FavoriteOut(gig_id=gig_id, favorite=False)


async def list_favorites(
    *, settings: Settings, caller: Caller, cursor: str | None, limit: int
) -> ListPage[FavoriteGigOut]:
    """The gigs the calling artist saved, most recently saved first."""
    artist_id = await caller.require_artist()
    # The order is the favorites' own (f.created_at, f.id): when saved, not the gig's.
    pager = Pager(settings, "favorites", cursor=cursor, limit=limit, keyset=NEWEST_FIRST)
    where = Conditions()
    where.add("f.artist_id = {}", artist_id)
    pager.narrow(where, alias="f")
    rows = await db.fetch(
        f"SELECT {GIG_COLUMNS}, f.id AS favorite_id, f.created_at AS saved_at"
        f" FROM gig_favorites f JOIN gigs g ON g.id = f.gig_id WHERE {where.sql}"
        f" ORDER BY {pager.order_by('f')} LIMIT {where.param(pager.fetch)}",
        *where.values,
    )
    shown = rows[: pager.limit]
    gigs = {gig.id: gig for gig in await gig_outs(shown, caller=caller)}
    # A row's `id` and `created_at` are its gig's; the page's position is the favorite's.
    saved: list[dict[str, Any]] = [
        {"id": row["favorite_id"], "created_at": row["saved_at"], "gig_id": row["id"]}
        for row in rows
    ]
    return pager.page(
        saved, lambda row: FavoriteGigOut(gig=gigs[row["gig_id"]], saved_at=row["created_at"])
    )
