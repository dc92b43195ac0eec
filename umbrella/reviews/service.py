"""Reviews: invitations (D-032), unmoderated ratings (D-034) and the artist's running totals."""

from __future__ import annotations

from uuid import UUID

from umbrella.artists.tables import Artist


async def refresh_artist_rating(*, artist_id: UUID) -> None:
    """Set `avg_rating` and `total_reviews` from the reviews; run inside the caller's transaction.

    The artist row is locked first, so the recount (a new statement, a new snapshot) sees
    every review committed by a concurrent writer that held the lock before us.
    """
    await Artist.raw("SELECT id FROM artists WHERE id = {} FOR UPDATE", artist_id)
    await Artist.raw(
        "UPDATE artists SET"
        " total_reviews = totals.reviews,"
        " avg_rating = totals.average,"
        " updated_at = now()"
        " FROM (SELECT count(*) AS reviews, coalesce(round(avg(rating), 2), 0) AS average"
        "       FROM reviews WHERE artist_id = {}) AS totals"
        " WHERE artists.id = {}",
        artist_id,
        artist_id,
    )
