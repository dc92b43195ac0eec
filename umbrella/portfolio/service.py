"""Portfolio: an artist's tracks in display order, their audio through the shared upload flow.

Every add, edit, reorder and delete shows on the profile, so each one queues the profile
cache purge in its transaction and deletes the cached profile right after the commit.
Plays do not: a cached profile may show a play count up to an hour (its TTL) behind.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from piccolo.columns import Column
from redis.asyncio import Redis

from umbrella.artists import cache as profile_cache
from umbrella.artists.tables import Artist
from umbrella.core import db
from umbrella.core.cache import REDIS_DOWN_ERRORS, first_time
from umbrella.core.caller import Caller
from umbrella.core.errors import (
    DependencyUnavailable,
    NotFound,
    ValidationFailed,
)
from umbrella.core.storage import Storage
from umbrella.observability.metrics import Metrics
from umbrella.piccolo_conf import DB
from umbrella.portfolio.schemas import (
    MAX_TRACKS,
    STREAMING_FIELDS,
    PlayOut,
    PortfolioOut,
    TrackCreateIn,
    TrackOut,
    TrackUploadOut,
)
from umbrella.portfolio.tables import Track
from umbrella.storage import service as storage_service
from umbrella.storage import uploads

log = logging.getLogger(__name__)

AUDIO_URL_EXPIRY = timedelta(hours=1)  # SPEC §3.5: downloads through a presigned GET (1 hour)


def track_key(artist_id: UUID, track_id: UUID, extension: str) -> str:
    """Where a track's audio lives (SPEC §3.5): `tracks/{artistId}/{trackId}.{ext}`."""
    return f"tracks/{artist_id}/{track_id}.{extension}"


async def _lock_artist(artist_id: UUID) -> None:
    # NO KEY UPDATE: it serialises the writers of one portfolio, yet does not wait for (or
    # deadlock with) transactions inserting rows that reference the artist.
    await db.fetch("SELECT id FROM artists WHERE id = $1 FOR NO KEY UPDATE", artist_id)


def _too_many_tracks() -> ValidationFailed:
    return ValidationFailed(
        f"A portfolio holds at most {MAX_TRACKS} tracks. Delete one before adding another."
    )


async def _track_out(storage: Storage, row: dict[str, Any]) -> TrackOut:
    audio_url = None
    if row["file_key"]:
        audio_url = await storage.presigned_get(
            row["file_key"], expires=AUDIO_URL_EXPIRY, content_type=row["mime_type"]
        )
    return TrackOut(
        id=row["id"],
        artist_id=row["artist_id"],
        title=row["title"],
        genre=row["genre"],
        duration_seconds=row["duration_seconds"],
        spotify_url=row["spotify_url"],
        apple_music_url=row["apple_music_url"],
        soundcloud_url=row["soundcloud_url"],
        has_audio=row["file_key"] is not None,
        audio_url=audio_url,
        mime_type=row["mime_type"],
        size_bytes=row["size_bytes"],
        display_order=row["display_order"],
        play_count=row["play_count"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _get_track_row(track_id: UUID) -> dict[str, Any]:
    row = await Track.select().where(Track.id == track_id).first()
    if row is None:  # pragma: no cover - read right after our own write
        raise NotFound("No such track.", field="track_id")
    return row


async def count_tracks(*, artist_id: UUID) -> int:
    """How many tracks an artist has (their profile completion counts them)."""
    count: int = await Track.count().where(Track.artist_id == artist_id)
    return count


async def list_tracks(
    *, storage: Storage, artist_id: UUID, limit: int = MAX_TRACKS
) -> PortfolioOut:
    """An artist's portfolio in display order (then oldest first), the first `limit` tracks."""
    if not await Artist.exists().where(Artist.id == artist_id):
        raise NotFound("No such artist.", field="artist_id")
    rows = (
        await Track.select()
        .where(Track.artist_id == artist_id)
        .order_by(Track.display_order, Track.created_at, Track.id)
        .limit(min(limit, MAX_TRACKS))
    )
    tracks = [await _track_out(storage, row) for row in rows]
    return PortfolioOut(artist_id=artist_id, tracks=tracks, max_tracks=MAX_TRACKS)


async def create_track_upload(
    *,
    storage: Storage,
    metrics: Metrics,
    caller: Caller,
    content_type: str,
    size_bytes: int,
    filename: str | None,
) -> TrackUploadOut:
    """Sign the browser's upload of one audio file for a track yet to be created."""
    artist_id = await caller.require_artist()
    media = uploads.media_type(content_type, kinds=("audio",))
    if await Track.count().where(Track.artist_id == artist_id) >= MAX_TRACKS:
        raise _too_many_tracks()
    # An oversized file is refused by `start` with 413; anything else must fit the quota (D-026).
    fits_type = size_bytes <= media.max_bytes
    if fits_type:
        await storage_service.check_storage(artist_id=artist_id, size_bytes=size_bytes)
    # The track's id is chosen now and travels in the key, so the pending upload carries it.
    track_id = uuid.uuid4()
    ticket = await uploads.start(
        storage=storage,
        metrics=metrics,
        user_id=caller.user_id,
        purpose="track",
        key=track_key(artist_id, track_id, media.extension),
        media=media,
        size_bytes=size_bytes,
        filename=filename,
        upload_id=track_id,
    )
    return TrackUploadOut.of(ticket, track_id=track_id)


def _track_id_of(key: str, artist_id: UUID) -> UUID:
    """The track id `create_track_upload` put in the key."""
    prefix = f"tracks/{artist_id}/"
    if not key.startswith(prefix):  # pragma: no cover - we signed this key ourselves
        raise ValidationFailed("This upload is not a track of yours.", field="upload_id")
    return UUID(key[len(prefix) :].split(".", 1)[0])


async def create_track(
    *,
    storage: Storage,
    metrics: Metrics,
    redis: Redis,
    caller: Caller,
    data: TrackCreateIn,
) -> tuple[TrackOut, bool]:
    """Add a track at the end of the portfolio, with its verified upload and/or its links.

    The track and whether this call made it: a repeat with an upload already confirmed (a
    retry whose first answer was lost, or a double click) answers the track it made.
    """
    artist_id = await caller.require_artist()
    if data.upload_id is None and not any(getattr(data, name) for name in STREAMING_FIELDS):
        raise ValidationFailed(
            "Upload the audio (upload_id) or give at least one streaming link.",
            field="upload_id",
        )
    verified = None
    track_id = uuid.uuid4()
    if data.upload_id is not None:
        try:
            # A file that is not the audio it claims to be is deleted here and refused.
            verified = await uploads.verify(
                storage=storage,
                metrics=metrics,
                user_id=caller.user_id,
                upload_id=data.upload_id,
                purpose="track",
            )
        except NotFound as missing:
            # A track's upload id is its track's id (create_track_upload): this upload made it.
            made = await Track.select().where(
                (Track.id == data.upload_id) & (Track.artist_id == artist_id)
            )
            if missing.field != "upload_id" or not made:
                raise
            return await _track_out(storage, made[0]), False
        track_id = _track_id_of(verified.key, artist_id)
    now = datetime.now(UTC)
    async with DB.transaction():
        await _lock_artist(artist_id)
        if await Track.count().where(Track.artist_id == artist_id) >= MAX_TRACKS:
            raise _too_many_tracks()
        if verified is not None:
            await uploads.consume(upload_id=verified.upload_id)
            # Atomic against concurrent uploads: an artist never ends up over quota (D-026).
            await storage_service.reserve_storage(
                artist_id=artist_id, size_bytes=verified.size_bytes
            )
        rows = await db.fetch(
            "SELECT coalesce(max(display_order) + 1, 0) AS next FROM tracks WHERE artist_id = $1",
            artist_id,
        )
        await Track.insert(
            Track(
                id=track_id,
                artist_id=artist_id,
                title=data.title,
                genre=data.genre,
                duration_seconds=data.duration_seconds,
                file_key=verified.key if verified else None,
                size_bytes=verified.size_bytes if verified else None,
                mime_type=verified.mime_type if verified else None,
                spotify_url=data.spotify_url,
                apple_music_url=data.apple_music_url,
                soundcloud_url=data.soundcloud_url,
                display_order=rows[0]["next"],
                play_count=0,
                created_at=now,
                updated_at=now,
            )
        )
        await profile_cache.forget_later([artist_id])
    await profile_cache.forget(redis, [artist_id])
    return await _track_out(storage, await _get_track_row(track_id)), True


async def update_track(
    *,
    storage: Storage,
    redis: Redis,
    caller: Caller,
    track_id: UUID,
    changes: dict[str, Any],
) -> TrackOut:
    """Change a track's title, genre, duration or links; another artist's track is not found."""
    artist_id = await caller.require_artist()
    if "title" in changes and changes["title"] is None:
        raise ValidationFailed("A track needs a title.", field="title")
    async with DB.transaction():
        found = await db.fetch(
            "SELECT * FROM tracks WHERE id = $1 AND artist_id = $2 FOR UPDATE",
            track_id,
            artist_id,
        )
        if not found:
            raise NotFound("No such track.", field="track_id")
        if changes:
            after = {**found[0], **changes}
            if after["file_key"] is None and not any(after[name] for name in STREAMING_FIELDS):
                cleared = next(name for name in STREAMING_FIELDS if name in changes)
                raise ValidationFailed(
                    "A track without an uploaded file keeps at least one streaming link.",
                    field=cleared,
                )
            values: dict[Column | str, Any] = dict(changes.items())
            values[Track.updated_at] = datetime.now(UTC)
            await Track.update(values).where(Track.id == track_id)
            await profile_cache.forget_later([artist_id])
    if changes:
        await profile_cache.forget(redis, [artist_id])
    return await _track_out(storage, await _get_track_row(track_id))


async def update_track_order(
    *, storage: Storage, redis: Redis, caller: Caller, track_ids: list[UUID]
) -> PortfolioOut:
    """Set the display order: `track_ids` must list each of the artist's tracks exactly once."""
    artist_id = await caller.require_artist()
    async with DB.transaction():
        await _lock_artist(artist_id)
        rows = await Track.select(Track.id).where(Track.artist_id == artist_id)
        if len(set(track_ids)) != len(track_ids) or set(track_ids) != {r["id"] for r in rows}:
            raise ValidationFailed(
                "List every one of your tracks exactly once, in the order to show them.",
                field="track_ids",
            )
        if track_ids:
            await db.fetch(
                "UPDATE tracks SET display_order = o.position - 1, updated_at = now()"
                " FROM unnest($1::uuid[]) WITH ORDINALITY AS o(track_id, position)"
                " WHERE tracks.id = o.track_id AND tracks.artist_id = $2",
                track_ids,
                artist_id,
            )
            await profile_cache.forget_later([artist_id])
    if track_ids:
        await profile_cache.forget(redis, [artist_id])
    return await list_tracks(storage=storage, artist_id=artist_id)


async def delete_track(*, storage: Storage, redis: Redis, caller: Caller, track_id: UUID) -> None:
    """Delete one of the caller's tracks, give its bytes back to the quota, then its object."""
    artist_id = await caller.require_artist()
    async with DB.transaction():
        deleted = await db.fetch(
            "DELETE FROM tracks WHERE id = $1 AND artist_id = $2 RETURNING file_key, size_bytes",
            track_id,
            artist_id,
        )
        if not deleted:
            raise NotFound("No such track.", field="track_id")
        if deleted[0]["size_bytes"] is not None:
            await storage_service.release_storage(
                artist_id=artist_id, size_bytes=deleted[0]["size_bytes"]
            )
        file_key = deleted[0]["file_key"]
        if file_key is not None:
            # Durable: the object goes even if S3 is down right now.
            await storage_service.delete_objects_later(keys=[file_key])
        await profile_cache.forget_later([artist_id])
    await profile_cache.forget(redis, [artist_id])
    if file_key is not None:
        try:
            await storage.delete(file_key)  # at once when S3 answers; the job makes sure
        except DependencyUnavailable:
            log.warning("track audio left to the cleanup job: s3 unavailable")


PLAY_REPEAT_SECONDS = 10 * 60


async def create_play(*, redis: Redis, artist_id: UUID, track_id: UUID, visitor: str) -> PlayOut:
    """Count a play of a track: once per listener every 10 minutes, no cache purge.

    A cached profile may show the count up to an hour late. With Redis down every play
    counts (the count is in Postgres; only the repeat check is lost).
    """
    try:
        counts = await first_time(
            redis, f"track_play_seen:{track_id}:{visitor}", seconds=PLAY_REPEAT_SECONDS
        )
    except REDIS_DOWN_ERRORS:
        counts = True
    rows = await db.fetch(
        "UPDATE tracks SET play_count = play_count + $1"
        " WHERE id = $2 AND artist_id = $3 RETURNING play_count",
        1 if counts else 0,
        track_id,
        artist_id,
    )
    if not rows:
        raise NotFound("No such track.", field="track_id")
    return PlayOut(track_id=track_id, play_count=rows[0]["play_count"])
