"""Favorites: the gigs an artist saves, to come back to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from umbrella.artists import service as artists_service
from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.errors import Forbidden
from umbrella.core.pagination import Cursors
from umbrella.gigs.schemas import FavoriteGigOut, FavoriteOut
from umbrella.gigs.service import GIG_COLUMNS, NOT_AN_ARTIST, Viewer, gig_outs, no_such_gig
from umbrella.gigs.tables import Gig


async def _require_artist(*, user_id: UUID, role: str) -> UUID:
    if role != "artist":
        raise Forbidden(NOT_AN_ARTIST)
    artist_id = await artists_service.get_artist_id(user_id=user_id)
    if artist_id is None:
        raise Forbidden("Finish your artist profile first.", field="onboarding")
    return artist_id


async def create_favorite(*, user_id: UUID, role: str, gig_id: UUID) -> FavoriteOut:
    """Save a gig (again: no change, same answer)."""
    artist_id = await _require_artist(user_id=user_id, role=role)
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


async def delete_favorite(*, user_id: UUID, role: str, gig_id: UUID) -> FavoriteOut:
    """Forget a saved gig (again: no change, same answer)."""
    artist_id = await _require_artist(user_id=user_id, role=role)
    await db.fetch(
        "DELETE FROM gig_favorites WHERE gig_id = $1 AND artist_id = $2", gig_id, artist_id
    )
    return FavoriteOut(gig_id=gig_id, favorite=False)


async def list_favorites(
    *, settings: Settings, user_id: UUID, role: str, cursor: str | None, limit: int
) -> dict[str, Any]:
    """The gigs the calling artist saved, most recently saved first."""
    artist_id = await _require_artist(user_id=user_id, role=role)
    cursors = Cursors(settings, "favorites")
    position = cursors.decode(cursor)
    after, values = "", []
    if position is not None:
        after = " AND (f.created_at, f.id) < ({}, {})"
        values = [datetime.fromisoformat(position["at"]), UUID(position["id"])]
    rows = await Gig.raw(
        f"SELECT {GIG_COLUMNS}, f.id AS favorite_id, f.created_at AS saved_at"
        " FROM gig_favorites f JOIN gigs g ON g.id = f.gig_id"
        " WHERE f.artist_id = {}" + after + " ORDER BY f.created_at DESC, f.id DESC LIMIT {}",
        artist_id,
        *values,
        limit + 1,
    )
    shown = rows[:limit]
    gigs = await gig_outs(shown, viewer=Viewer(user_id=user_id, artist_id=artist_id))
    return {
        "items": [
            FavoriteGigOut(gig=gig, saved_at=row["saved_at"])
            for gig, row in zip(gigs, shown, strict=True)
        ],
        "next_cursor": cursors.next_cursor(
            rows,
            limit,
            lambda row: {"at": row["saved_at"].isoformat(), "id": str(row["favorite_id"])},
        ),
    }
