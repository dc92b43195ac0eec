"""Onboarding (D-006), artist profiles with their cache and view counts, and the timeline.

docs/profiles.md describes the rules: every field of every step, the public field list,
the completion weights, the cache and how views are counted. The avatar and banner
uploads are in `images.py`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from piccolo.columns import Column
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from umbrella import keys
from umbrella.accounts.service import SessionStore, next_onboarding_step
from umbrella.accounts.tables import User
from umbrella.analytics.tables import ProfileViewCount
from umbrella.artists import cache as profile_cache
from umbrella.artists.schemas import (
    SOCIAL_URL_FIELDS,
    CompletionItem,
    DeletedOut,
    OnboardingStatusOut,
    ProfileCompletionOut,
    ProfileOut,
    PublicProfileOut,
    TimelineEntryOut,
)
from umbrella.artists.tables import Artist, TimelineEntry, Track
from umbrella.config import Settings
from umbrella.core.cache import REDIS_DOWN_ERRORS, first_time
from umbrella.core.storage import Storage
from umbrella.notifications.service import notify_user
from umbrella.notifications.templates import WelcomePayload
from umbrella.observability.metrics import Metrics
from umbrella.piccolo_conf import DB
from umbrella.web.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ValidationFailed,
)
from umbrella.web.pagination import Cursors

log = logging.getLogger(__name__)

LAST_STEP = 5
IMAGE_URL_EXPIRY = timedelta(hours=1)
ImagePurpose = Literal["avatar", "banner"]

NO_PROFILE = "You have no artist profile yet: start onboarding at step 1."
NOT_AN_ARTIST = "Only artists have a profile."
NO_SUCH_ARTIST = "No such artist."

# -- onboarding (SPEC §3.1) --------------------------------------------------------------


def _columns(fields: dict[str, Any], **more: Any) -> dict[Column | str, Any]:
    """Validated fields (named as their columns) as a Piccolo update."""
    columns: dict[Column | str, Any] = {}
    columns.update(fields)
    columns.update(more)
    return columns


async def _lock_user(user_id: UUID) -> dict[str, Any]:
    rows = await User.raw(
        "SELECT id, role, onboarding_complete, onboarding_step FROM users WHERE id = {} FOR UPDATE",
        user_id,
    )
    if not rows:
        raise NotFound("No such user.")
    user: dict[str, Any] = rows[0]
    return user


async def get_artist_id(*, user_id: UUID) -> UUID | None:
    """The user's artist profile id, if they have one (None for venues and before step 1)."""
    row = await Artist.select(Artist.id).where(Artist.user_id == user_id).first()
    return None if row is None else UUID(str(row["id"]))


async def get_onboarding_status(*, user_id: UUID) -> OnboardingStatusOut:
    """Where the user stands in onboarding and which step comes next."""
    user = (
        await User.select(
            User.role, User.onboarding_complete, User.onboarding_step, User.role_chosen_at
        )
        .where(User.id == user_id)
        .first()
    )
    if user is None:
        raise NotFound("No such user.")
    has_profile = await get_artist_id(user_id=user_id) is not None
    complete: bool = user["onboarding_complete"]
    step: int = user["onboarding_step"]
    done = LAST_STEP if complete and user["role"] == "artist" else 0 if complete else step
    next_step = next_onboarding_step(
        onboarding_complete=complete,
        onboarding_step=step,
        has_artist_profile=has_profile,
        role_chosen=user["role_chosen_at"] is not None,
    )
    return OnboardingStatusOut(
        onboarding_complete=complete,
        # The column defaults to artist, but nobody chose it yet: null, as in the session.
        role=None if next_step == "role" else user["role"],
        onboarding_step=step,
        next_step=next_step,
        steps_done=[f"step{number}" for number in range(1, done + 1)],
        has_artist_profile=has_profile,
    )


async def update_role(
    *,
    user_id: UUID,
    role: Literal["artist", "venue"],
    venue_name: str | None,
    sessions: SessionStore,
) -> OnboardingStatusOut:
    """Choose artist (steps follow) or venue (done at once, with the welcome email)."""
    now = datetime.now(UTC)
    async with DB.transaction():
        user = await _lock_user(user_id)
        if user["role"] == "admin":
            raise Forbidden("Administrators do not onboard.", field="role")
        if user["onboarding_complete"]:
            raise Conflict("Onboarding is already complete.", field="role")
        if role == "venue":
            if await get_artist_id(user_id=user_id) is not None:
                raise Conflict(
                    "You started an artist profile, so this account stays an artist.",
                    field="role",
                )
            await User.update(
                {
                    User.role: "venue",
                    User.role_chosen_at: now,
                    User.display_name: venue_name,
                    User.onboarding_complete: True,
                    User.onboarding_step: 0,
                    User.updated_at: now,
                }
            ).where(User.id == user_id)
            await notify_user(
                user_id=user_id,
                kind="welcome",
                payload=WelcomePayload(name=str(venue_name), audience="venue"),
            )
        else:
            await User.update(
                {User.role: "artist", User.role_chosen_at: now, User.updated_at: now}
            ).where(User.id == user_id)
    if role != user["role"]:
        # Cached sessions carry the role: the next request reads the new one.
        await sessions.forget_cached_user(user_id=user_id)
    return await get_onboarding_status(user_id=user_id)


async def update_onboarding_step(
    *, user_id: UUID, step: int, answers: dict[str, Any], redis: Redis
) -> OnboardingStatusOut:
    """Record one artist step; out of order, onboarding restarts at step 1 (D-006)."""
    if not 1 <= step <= LAST_STEP:
        raise NotFound("No such onboarding step.", field="step")
    now = datetime.now(UTC)
    restart = False
    async with DB.transaction():
        user = await _lock_user(user_id)
        if user["role"] != "artist":
            raise Forbidden("Only artists fill in these steps.", field="role")
        if user["onboarding_complete"]:
            raise Conflict(
                "Onboarding is already complete: edit your profile instead.", field="step"
            )
        artist_id = await get_artist_id(user_id=user_id)
        # D-006: step 1 is always welcome (a restart); any other step only right after the
        # previous one of this visit.
        if step != 1 and (step != user["onboarding_step"] + 1 or artist_id is None):
            await User.update({User.onboarding_step: 0, User.updated_at: now}).where(
                User.id == user_id
            )
            restart = True
        else:
            if artist_id is None:
                artist_id = uuid.uuid4()
                await Artist.insert(
                    Artist(id=artist_id, user_id=user_id, created_at=now, updated_at=now, **answers)
                )
            else:
                await Artist.update(_columns(answers, updated_at=now)).where(Artist.id == artist_id)
                await profile_cache.forget_later([artist_id])
            complete = step == LAST_STEP
            await User.update(
                {
                    User.onboarding_step: step,
                    User.onboarding_complete: complete,
                    User.updated_at: now,
                }
            ).where(User.id == user_id)
            if complete:
                stage_name = await Artist.select(Artist.stage_name).where(Artist.id == artist_id)
                await notify_user(
                    user_id=user_id,
                    kind="welcome",
                    payload=WelcomePayload(name=stage_name[0]["stage_name"]),
                )
    if restart:
        raise Conflict(
            f"Step {step} is out of order: onboarding restarts at step 1 "
            "(your earlier answers are kept).",
            field="step",
        )
    if artist_id is not None:
        await profile_cache.forget(redis, [artist_id])
    return await get_onboarding_status(user_id=user_id)


# -- profiles (SPEC §3.2) ----------------------------------------------------------------

# Everything a profile shows, private columns included: the cache holds this row and the
# public read filters it (PublicProfileOut).
_PROFILE_SQL = (
    "SELECT a.*, u.email, u.phone, u.onboarding_complete"
    " FROM artists a JOIN users u ON u.id = a.user_id WHERE a.id = {}"
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
    rows = await Artist.raw(_PROFILE_SQL, artist_id)
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


async def get_own_artist_id(*, user_id: UUID, role: str) -> UUID:
    """The caller's artist profile: 403 for venues and admins, 404 before onboarding step 1."""
    if role != "artist":
        raise Forbidden(NOT_AN_ARTIST)
    artist_id = await get_artist_id(user_id=user_id)
    if artist_id is None:
        raise NotFound(NO_PROFILE)
    return artist_id


async def get_own_profile(*, user_id: UUID, role: str, reader: ProfileReader) -> ProfileOut:
    """The caller's own profile, every field included."""
    artist_id = await get_own_artist_id(user_id=user_id, role=role)
    row = await _profile_row(reader, artist_id)
    if row is None:
        raise NotFound(NO_PROFILE)
    return ProfileOut.model_validate(await _with_image_links(reader.storage, row))


def _view_key(day: date) -> str:
    return f"{VIEWS_PREFIX}{day.isoformat()}"


async def _count_view(reader: ProfileReader, artist_id: UUID, visitor: str) -> None:
    """Count a view in Redis (no database write on the read path); lost if Redis is down.

    A visitor counts once per artist every 30 minutes, so reloading a page adds nothing.
    """
    key = _view_key(datetime.now(UTC).date())
    try:
        seen = f"profile_view_seen:{artist_id}:{visitor}"
        if not await first_time(reader.redis, seen, seconds=VIEW_REPEAT_SECONDS):
            return
        async with reader.redis.pipeline(transaction=False) as pipe:
            pipe.hincrby(key, str(artist_id), 1)
            # A bound on what a stopped flush leaves behind; the flush runs every 5 minutes.
            pipe.expire(key, VIEWS_KEY_TTL_SECONDS)
            await pipe.execute()
    except REDIS_DOWN_ERRORS:
        reader.metrics.cache_requests.labels("profile_views", "error").inc()
        log.debug("redis unavailable; profile view not counted")


async def get_public_profile(
    *, artist_id: UUID, viewer_user_id: UUID | None, visitor: str, reader: ProfileReader
) -> PublicProfileOut:
    """An artist's public profile (private fields left out); counts the view of anyone else."""
    row = await _profile_row(reader, artist_id)
    # A half-built profile is not shown: it becomes public when onboarding completes.
    if row is None or not row["onboarding_complete"]:
        raise NotFound(NO_SUCH_ARTIST)
    if viewer_user_id is None or str(viewer_user_id) != str(row["user_id"]):
        await _count_view(reader, artist_id, visitor)
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
    *, user_id: UUID, role: str, changes: dict[str, Any], reader: ProfileReader
) -> ProfileOut:
    """Change fields of the caller's own profile (never anyone else's)."""
    if not changes:
        raise ValidationFailed("Send at least one field to change.", field="body")
    if role != "artist":
        raise Forbidden(NOT_AN_ARTIST)
    async with DB.transaction():
        rows = await Artist.raw("SELECT id FROM artists WHERE user_id = {} FOR UPDATE", user_id)
        if not rows:
            raise NotFound(NO_PROFILE)
        artist_id = UUID(str(rows[0]["id"]))
        await Artist.update(_columns(changes, updated_at=datetime.now(UTC))).where(
            Artist.id == artist_id
        )
        await profile_cache.forget_later([artist_id])
    await profile_cache.forget(reader.redis, [artist_id])
    return await get_own_profile(user_id=user_id, role=role, reader=reader)


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


async def get_profile_completion(
    *, user_id: UUID, role: str, reader: ProfileReader
) -> ProfileCompletionOut:
    """How complete the caller's profile is, and what is missing."""
    artist_id = await get_own_artist_id(user_id=user_id, role=role)
    row = await _profile_row(reader, artist_id)
    if row is None:
        raise NotFound(NO_PROFILE)
    tracks = await Track.count().where(Track.artist_id == artist_id)
    return completion_of(row, tracks=tracks)


# -- timeline (SPEC §3.2) ----------------------------------------------------------------

_TIMELINE_COLUMNS = (
    TimelineEntry.id,
    TimelineEntry.entry_type,
    TimelineEntry.occurred_on,
    TimelineEntry.title,
    TimelineEntry.description,
    TimelineEntry.created_at,
)
NO_SUCH_ENTRY = "No such timeline entry."


async def create_timeline_entry(
    *, user_id: UUID, role: str, fields: dict[str, Any]
) -> TimelineEntryOut:
    """Add a dated entry to the caller's timeline."""
    artist_id = await get_own_artist_id(user_id=user_id, role=role)
    rows = await TimelineEntry.insert(
        TimelineEntry(id=uuid.uuid4(), artist_id=artist_id, created_at=datetime.now(UTC), **fields)
    ).returning(*_TIMELINE_COLUMNS)
    return TimelineEntryOut.model_validate(rows[0])


async def update_timeline_entry(
    *, user_id: UUID, role: str, entry_id: UUID, changes: dict[str, Any]
) -> TimelineEntryOut:
    """Change an entry of the caller's own timeline; anyone else's is not found."""
    if not changes:
        raise ValidationFailed("Send at least one field to change.", field="body")
    artist_id = await get_own_artist_id(user_id=user_id, role=role)
    rows = (
        await TimelineEntry.update(_columns(changes))
        .where((TimelineEntry.id == entry_id) & (TimelineEntry.artist_id == artist_id))
        .returning(*_TIMELINE_COLUMNS)
    )
    if not rows:
        raise NotFound(NO_SUCH_ENTRY)
    return TimelineEntryOut.model_validate(rows[0])


async def delete_timeline_entry(*, user_id: UUID, role: str, entry_id: UUID) -> DeletedOut:
    """Remove an entry of the caller's own timeline; anyone else's is not found."""
    artist_id = await get_own_artist_id(user_id=user_id, role=role)
    rows = (
        await TimelineEntry.delete()
        .where((TimelineEntry.id == entry_id) & (TimelineEntry.artist_id == artist_id))
        .returning(TimelineEntry.id)
    )
    if not rows:
        raise NotFound(NO_SUCH_ENTRY)
    return DeletedOut(id=entry_id, deleted=True)


async def list_timeline(
    *, settings: Settings, artist_id: UUID, cursor: str | None, limit: int
) -> dict[str, Any]:
    """A page of an artist's public timeline, newest first (by date, then id)."""
    cursors = Cursors(settings, "timeline")
    after = cursors.decode(cursor)
    public = await Artist.raw(
        "SELECT 1 FROM artists a JOIN users u ON u.id = a.user_id"
        " WHERE a.id = {} AND u.onboarding_complete",
        artist_id,
    )
    if not public:
        raise NotFound(NO_SUCH_ARTIST)
    query = (
        TimelineEntry.select(*_TIMELINE_COLUMNS)
        .where(TimelineEntry.artist_id == artist_id)
        .order_by(TimelineEntry.occurred_on, TimelineEntry.id, ascending=False)
        .limit(limit + 1)
    )
    if after is not None:
        on, last_id = date.fromisoformat(after["occurred_on"]), UUID(after["id"])
        query = query.where(
            (TimelineEntry.occurred_on < on)
            | ((TimelineEntry.occurred_on == on) & (TimelineEntry.id < last_id))
        )
    rows = await query
    next_cursor = cursors.next_cursor(
        rows,
        limit,
        lambda row: {"occurred_on": row["occurred_on"].isoformat(), "id": str(row["id"])},
    )
    return {
        "items": [TimelineEntryOut.model_validate(row) for row in rows[:limit]],
        "next_cursor": next_cursor,
    }


# -- profile views: counted in Redis, flushed to Postgres by the cron --------------------

VIEWS_PREFIX = "profile_views:"
VIEW_REPEAT_SECONDS = 30 * 60
# A hash being flushed: renamed away from the live key, so new views start a fresh hash.
FLUSHING_PREFIX = "profile_views_flushing:"
VIEWS_KEY_TTL_SECONDS = 8 * 24 * 3600

# One statement: the artists update locks the rows (a concurrent deletion waits), and a
# view of an artist deleted meanwhile is dropped instead of breaking the foreign key.
_FLUSH_SQL = """
WITH counted AS (
    UPDATE artists SET profile_views = artists.profile_views + v.views
      FROM unnest({}::uuid[], {}::bigint[]) AS v(artist_id, views)
     WHERE artists.id = v.artist_id
 RETURNING artists.id AS artist_id, v.views
), stored AS (
    INSERT INTO profile_view_counts (artist_id, date, views, updated_at)
    SELECT artist_id, {}::date, views, now() FROM counted
    ON CONFLICT (artist_id, date)
    DO UPDATE SET views = profile_view_counts.views + excluded.views, updated_at = now()
)
SELECT coalesce(sum(views), 0)::bigint AS views FROM counted
"""


@dataclass(frozen=True)
class FlushedViews:
    hashes: int
    views: int


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _flush_hash(redis: Redis, key: str) -> int:
    """Add one renamed hash to Postgres in one transaction, then delete it; returns its views."""
    day_text = key.removeprefix(FLUSHING_PREFIX).split(":", 1)[0]
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        log.warning("profile views: unreadable key dropped", extra={"key": key})
        await redis.delete(key)
        return 0
    counts: dict[UUID, int] = {}
    for field, value in (await redis.hgetall(key)).items():
        try:
            counts[UUID(_decode(field))] = int(value)
        except ValueError:
            log.warning("profile views: unreadable entry skipped", extra={"key": key})
    ids = sorted(artist_id for artist_id, views in counts.items() if views > 0)
    flushed = 0
    if ids:
        async with DB.transaction():
            rows = await ProfileViewCount.raw(_FLUSH_SQL, ids, [counts[i] for i in ids], day)
            flushed = int(rows[0]["views"])
            # profile_views shows on the owner's profile.
            await profile_cache.forget_later(ids)
    # A crash between the commit above and this delete counts the hash again on the next
    # run: the flush is at-least-once.
    await redis.delete(key)
    await profile_cache.forget(redis, ids)
    return flushed


async def flush_profile_views(*, redis: Redis) -> FlushedViews:
    """Move the view counts from Redis into profile_view_counts and artists.profile_views."""
    hashes = views = 0
    # First what a crashed run left half done, then the live hashes of each day.
    leftovers = [_decode(key) async for key in redis.scan_iter(match=f"{FLUSHING_PREFIX}*")]
    for key in leftovers:
        views += await _flush_hash(redis, key)
        hashes += 1
    live = [_decode(key) async for key in redis.scan_iter(match=f"{VIEWS_PREFIX}*")]
    for key in live:
        day = key.removeprefix(VIEWS_PREFIX)
        flushing = f"{FLUSHING_PREFIX}{day}:{uuid.uuid4().hex}"
        try:
            # Atomic: a view counted from now on lands in a new live hash.
            await redis.rename(key, flushing)
        except ResponseError:
            continue  # gone since the scan (another flush, or expired)
        views += await _flush_hash(redis, flushing)
        hashes += 1
    return FlushedViews(hashes=hashes, views=views)
