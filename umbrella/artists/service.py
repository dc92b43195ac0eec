"""Artist profiles: who has one, reading them (cached), editing them, how complete they are.

docs/profiles.md describes the rules: the public field list, the completion weights, the
cache and how views are counted. Onboarding (D-006) is in `onboarding.py`, the timeline in
`timeline.py`, the view counts in `profile_views.py`, the avatar and banner uploads in
`images.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from piccolo.columns import Column
from redis.asyncio import Redis

from umbrella import keys
from umbrella.artists import cache as profile_cache
from umbrella.artists import profile_views
from umbrella.artists.schemas import (
    SOCIAL_URL_FIELDS,
    CompletionItem,
    ProfileCompletionOut,
    ProfileOut,
    PublicProfileOut,
)
from umbrella.artists.tables import Artist
from umbrella.core import caller as core_caller
from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.errors import NotFound, ValidationFailed
from umbrella.core.storage import Storage
from umbrella.keys import TrackCount
from umbrella.observability.metrics import Metrics
from umbrella.piccolo_conf import DB

IMAGE_URL_EXPIRY = timedelta(hours=1)
ImagePurpose = Literal["avatar", "banner"]

NO_SUCH_ARTIST = "No such artist."


def update_columns(fields: dict[str, Any], **more: Any) -> dict[Column | str, Any]:
    """Validated fields (named as their columns) as a Piccolo update."""
    columns: dict[Column | str, Any] = {}
    columns.update(fields)
    columns.update(more)
    return columns


async def get_artist_id(*, user_id: UUID) -> UUID | None:
    """The user's artist profile id, if they have one (None for venues and before step 1)."""
    row = await Artist.select(Artist.id).where(Artist.user_id == user_id).first()
    return None if row is None else UUID(str(row["id"]))


# -- profiles (SPEC §3.2) ----------------------------------------------------------------

# Everything a profile shows, private columns included: the cache holds this row and the
# public read filters it (PublicProfileOut).
_PROFILE_SQL = (
    "SELECT a.*, u.email, u.phone, u.onboarding_complete"
    " FROM artists a JOIN users u ON u.id = a.user_id WHERE a.id = $1"
)


@dataclass(frozen=True)
class ProfileReader:
    """What a profile read needs: the cache, its metrics and the store that signs image links."""

    redis: Redis
    metrics: Metrics
    storage: Storage

    @classmethod
    def of(cls, resources: Mapping[Any, Any]) -> ProfileReader:
        """The reader over an app's shared clients (a view passes `request.config_dict`)."""
        return cls(
            redis=resources[keys.REDIS],
            metrics=resources[keys.METRICS],
            storage=resources[keys.STORAGE],
        )


async def _profile_row(reader: ProfileReader, artist_id: UUID) -> dict[str, Any] | None:
    """The full profile row: from Redis, else Postgres (then cached for an hour)."""
    cached = await profile_cache.read(reader.redis, reader.metrics, artist_id)
    if cached is not None:
        return cached
    rows = await db.fetch(_PROFILE_SQL, artist_id)
    if not rows:
        return None
    row: dict[str, Any] = rows[0]
    await profile_cache.store(reader.redis, artist_id, row)
    return row


async def _with_image_links(storage: Storage, row: dict[str, Any]) -> dict[str, Any]:
    """The row with each stored image key replaced by a one-hour download link."""
    shown = dict(row)
    for column in ("avatar_url", "banner_url"):
        key = row.get(column)
        shown[column] = await storage.presigned_get(key, expires=IMAGE_URL_EXPIRY) if key else None
    return shown


def _no_profile() -> NotFound:
    # The profile went between the caller's lookup and the read (an account deletion).
    return NotFound(core_caller.NO_PROFILE, field="onboarding")


async def get_own_profile(*, caller: Caller, reader: ProfileReader) -> ProfileOut:
    """The caller's own profile, every field included."""
    artist_id = await caller.require_artist()
    row = await _profile_row(reader, artist_id)
    if row is None:
        raise _no_profile()
    return ProfileOut.model_validate(await _with_image_links(reader.storage, row))


async def get_public_profile(
    *, artist_id: UUID, viewer_user_id: UUID | None, visitor: str, reader: ProfileReader
) -> PublicProfileOut:
    """An artist's public profile (private fields left out); counts the view of anyone else."""
    row = await _profile_row(reader, artist_id)
    # A half-built profile is not shown: it becomes public when onboarding completes.
    if row is None or not row["onboarding_complete"]:
        raise NotFound(NO_SUCH_ARTIST)
    if viewer_user_id is None or str(viewer_user_id) != str(row["user_id"]):
        await profile_views.count_view(
            redis=reader.redis, metrics=reader.metrics, artist_id=artist_id, visitor=visitor
        )
    return PublicProfileOut.model_validate(await _with_image_links(reader.storage, row))


async def get_listed_profile(*, artist_id: UUID, reader: ProfileReader) -> PublicProfileOut | None:
    """An artist's public profile shown inside a list (D-077: with an application).

    No view is counted: the reader did not open the profile. None when it is not public.
    """
    row = await _profile_row(reader, artist_id)
    if row is None or not row["onboarding_complete"]:
        return None
    return PublicProfileOut.model_validate(await _with_image_links(reader.storage, row))


async def update_profile(
    *, caller: Caller, changes: dict[str, Any], reader: ProfileReader
) -> ProfileOut:
    """Change fields of the caller's own profile (never anyone else's)."""
    if not changes:
        raise ValidationFailed("Send at least one field to change.", field="body")
    artist_id = await caller.require_artist()
    async with DB.transaction():
        updated = (
            await Artist.update(update_columns(changes, updated_at=datetime.now(UTC)))
            .where(Artist.id == artist_id)
            .returning(Artist.id)
        )
        if not updated:
            raise _no_profile()
        await profile_cache.forget_later([artist_id])
    await profile_cache.forget(reader.redis, [artist_id])
    # The caller keeps the artist id: the read below looks nothing up again.
    return await get_own_profile(caller=caller, reader=reader)


# -- completion (weights: docs/profiles.md) ----------------------------------------------


Done = Callable[[dict[str, Any], int], bool]


def _present(value: Any) -> bool:
    # A cached row carries numbers as strings: "0.00" is a value, as Decimal(0) is.
    return value is not None and value != "" and value != []


def _filled(*columns: str) -> Done:
    """Done when every column has a value (a non-empty list for list columns)."""
    return lambda row, tracks: all(_present(row.get(column)) for column in columns)


def _any_filled(*columns: str) -> Done:
    return lambda row, tracks: any(_present(row.get(column)) for column in columns)


def _any_true(*columns: str) -> Done:
    return lambda row, tracks: any(row.get(column) is True for column in columns)


# (item, weight, done?) — the weights add up to 100.
COMPLETION_WEIGHTS: tuple[tuple[str, int, Done], ...] = (
    ("stage_name", 5, _filled("stage_name")),
    ("avatar", 10, _filled("avatar_url")),
    ("banner", 5, _filled("banner_url")),
    ("tagline", 5, _filled("tagline")),
    ("bio", 10, _filled("bio")),
    ("story", 5, _filled("story")),
    ("location", 5, _filled("city", "country")),
    ("primary_genre", 10, _filled("primary_genre")),
    ("secondary_genres", 3, _filled("secondary_genres")),
    ("influences", 3, _filled("influences")),
    ("performance_types", 4, _filled("performance_types")),
    ("equipment", 2, _filled("equipment")),
    ("daw", 2, _filled("daw")),
    ("platforms", 2, _filled("platforms")),
    ("rates", 8, _any_filled("flat_rate", "hourly_rate")),
    ("availability", 3, _any_true("available_weekdays", "available_weekends")),
    ("travel_radius", 2, _filled("travel_radius_miles")),
    ("years_performing", 2, _filled("years_performing")),
    ("biggest_gig", 2, _filled("biggest_gig")),
    ("dream_collaboration", 2, _filled("dream_collaboration")),
    ("social_links", 5, _any_filled(*SOCIAL_URL_FIELDS)),
    ("tracks", 5, lambda row, tracks: tracks > 0),
)


def completion_of(row: dict[str, Any], *, tracks: int) -> ProfileCompletionOut:
    """The percentage of a profile filled in, by the documented weights."""
    items = [
        CompletionItem(name=name, weight=weight, done=done(row, tracks))
        for name, weight, done in COMPLETION_WEIGHTS
    ]
    missing = sorted((item for item in items if not item.done), key=lambda item: -item.weight)
    return ProfileCompletionOut(
        percentage=sum(item.weight for item in items if item.done),
        missing=[item.name for item in missing],
        items=items,
    )


async def has_profile(*, user_id: UUID) -> bool:
    """Whether the user has an artist profile (onboarding step 1 creates it)."""
    return bool(await Artist.exists().where(Artist.user_id == user_id))


async def get_profile_completion(
    *, caller: Caller, reader: ProfileReader, count_tracks: TrackCount
) -> ProfileCompletionOut:
    """How complete the caller's profile is, and what is missing.

    `count_tracks` is the portfolio domain's answer (keys.COUNT_TRACKS): portfolio sits
    above artists.
    """
    artist_id = await caller.require_artist()
    row = await _profile_row(reader, artist_id)
    if row is None:
        raise _no_profile()
    tracks = await count_tracks(artist_id=artist_id)
    return completion_of(row, tracks=tracks)
