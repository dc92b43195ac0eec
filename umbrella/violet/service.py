"""Violet: prompts answered by Claude through grounded templates (D-046), 50 a day (D-062).

The daily limit is counted before the model is called, in two places:

- **Postgres decides.** Every prompt first reserves a `violet_usage` row for its UTC day,
  inside a transaction that holds a per-artist advisory lock while it counts the day's rows
  and inserts only below 50. Admissions are serialised per artist and every admitted
  prompt is a row that every later count sees, so Postgres alone never admits a 51st,
  whether Redis is up, down or flapping.
- **Redis is the fast gate.** `violet:{artistId}:{date}` is INCRed (with EXPIREAT at the
  next midnight UTC) before Postgres is asked; past 50 it is DECRed back and the request is
  refused without touching Postgres. Redis can only refuse, never admit on its own, so it
  can make the limit stricter, never looser. A missing counter is seeded from Postgres,
  and each admission raises it to at least Postgres's count, so it catches up after an
  outage instead of under-reporting.

A model failure deletes the reservation and DECRs the counter: only answered prompts count.
docs/violet.md walks through the cases.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError

from umbrella.core import db
from umbrella.core.cache import REDIS_DOWN_ERRORS
from umbrella.core.caller import Caller
from umbrella.core.errors import NotConfigured, RateLimited
from umbrella.gigs import service as gigs_service
from umbrella.integrations.llm import DEPENDENCY, UNAVAILABLE_MESSAGE, Llm
from umbrella.observability.metrics import Metrics
from umbrella.piccolo_conf import DB
from umbrella.violet.schemas import Context, PromptIn, PromptOut, TokensOut, UsageOut
from umbrella.violet.templates import ArtistFacts, GigFacts, PastGig, system_prompt, venue_data

log = logging.getLogger(__name__)

# D-062: 50 prompts per artist per UTC day; SPEC §3.8 words the refusal.
DAILY_LIMIT = 50
LIMIT_MESSAGE = "You've used all 50 Violet prompts for today. Limit resets at midnight UTC."
CACHE_NAME = "violet"  # the `cache` label of umbrella_cache_requests_total
RECENT_GIGS = 5  # enough to ground a pitch, few enough to keep the system prompt short

_REDIS_ERRORS: tuple[type[Exception], ...] = (*REDIS_DOWN_ERRORS, RedisError)

# Take one only from a seeded counter: a missing key must be seeded from Postgres first,
# or a Redis that lost its data would start the day again at zero. -1: not seeded.
_TAKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIREAT', KEYS[1], ARGV[1])
return n
"""
# Give one back, but never to a counter that expired or was lost (DECR would make it -1).
_GIVE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
return redis.call('DECR', KEYS[1])
"""
# Raise the counter to Postgres's count after an admission (it may lag after an outage).
_RAISE_TO = """
local current = tonumber(redis.call('GET', KEYS[1]) or '-1')
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EXAT', ARGV[2])
end
return current
"""


def counter_key(artist_id: UUID, day: date) -> str:
    """The Redis counter of one artist's UTC day (SPEC §5)."""
    return f"violet:{artist_id}:{day.isoformat()}"


def next_midnight(now: datetime) -> datetime:
    """When the day of `now` ends in UTC: the limit resets then (D-062)."""
    return datetime.combine(now.astimezone(UTC).date() + timedelta(days=1), time(), tzinfo=UTC)


def _usage(used: int, resets_at: datetime) -> UsageOut:
    # In-flight refusals may push the counter past the limit for a moment.
    used = max(0, min(used, DAILY_LIMIT))
    return UsageOut(used=used, limit=DAILY_LIMIT, remaining=DAILY_LIMIT - used, resets_at=resets_at)


def _limit_reached(now: datetime) -> RateLimited:
    seconds = math.ceil((next_midnight(now) - now).total_seconds())
    return RateLimited(LIMIT_MESSAGE, retry_after_seconds=seconds)


# -- the counter in Postgres (authoritative) ------------------------------------------------


async def _count_in_postgres(artist_id: UUID, day: date) -> int:
    # Reserved rows count too: their prompts are at the model right now.
    rows = await db.fetch(
        "SELECT count(*) AS used FROM violet_usage WHERE artist_id = $1 AND usage_date = $2",
        artist_id,
        day,
    )
    return int(rows[0]["used"])


async def _reserve(
    *, artist_id: UUID, day: date, context: Context, prompt: str
) -> tuple[UUID, int] | None:
    """Reserve one of the day's prompts: (row id, count with it), or None at the limit.

    Run inside the caller's transaction: the advisory lock is held until it commits.
    """
    await db.fetch("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"violet:{artist_id}")
    used = await _count_in_postgres(artist_id, day)
    if used >= DAILY_LIMIT:
        return None
    rows = await db.fetch(
        "INSERT INTO violet_usage (artist_id, usage_date, feature, prompt, status)"
        " VALUES ($1, $2, $3, $4, 'reserved') RETURNING id",
        artist_id,
        day,
        context.value,
        prompt,
    )
    return rows[0]["id"], used + 1


# -- the counter in Redis (fast gate) -------------------------------------------------------


async def _take_in_redis(
    redis: Redis, metrics: Metrics, *, artist_id: UUID, day: date, resets_at: datetime
) -> int | None:
    """The day's count with this prompt taken in Redis, or None when Redis cannot say."""
    key = counter_key(artist_id, day)
    expires = int(resets_at.timestamp())
    try:
        taken = int(await redis.eval(_TAKE, 1, key, expires))
        if taken == -1:
            metrics.cache_requests.labels(CACHE_NAME, "miss").inc()
            seed = await _count_in_postgres(artist_id, day)
            await redis.set(key, seed, nx=True, exat=expires)
            taken = int(await redis.eval(_TAKE, 1, key, expires))
        else:
            metrics.cache_requests.labels(CACHE_NAME, "hit").inc()
    except _REDIS_ERRORS:
        metrics.cache_requests.labels(CACHE_NAME, "error").inc()
        log.warning(
            "violet counter unavailable: Postgres alone counts", extra={"cache": CACHE_NAME}
        )
        return None
    return taken if taken >= 0 else None


async def _give_back_in_redis(
    redis: Redis, metrics: Metrics, *, artist_id: UUID, day: date
) -> None:
    try:
        await redis.eval(_GIVE_BACK, 1, counter_key(artist_id, day))
    except _REDIS_ERRORS:
        # The counter now says one too many: stricter, never looser; it expires at midnight.
        metrics.cache_requests.labels(CACHE_NAME, "error").inc()


async def _raise_in_redis(
    redis: Redis, metrics: Metrics, *, artist_id: UUID, day: date, used: int, resets_at: datetime
) -> None:
    try:
        await redis.eval(
            _RAISE_TO, 1, counter_key(artist_id, day), used, int(resets_at.timestamp())
        )
    except _REDIS_ERRORS:
        metrics.cache_requests.labels(CACHE_NAME, "error").inc()


async def _used_in_redis(
    redis: Redis, metrics: Metrics, *, artist_id: UUID, day: date, resets_at: datetime
) -> int | None:
    key = counter_key(artist_id, day)
    try:
        raw = await redis.get(key)
        if raw is not None:
            metrics.cache_requests.labels(CACHE_NAME, "hit").inc()
            return int(raw)
        metrics.cache_requests.labels(CACHE_NAME, "miss").inc()
        used = await _count_in_postgres(artist_id, day)
        await redis.set(key, used, nx=True, exat=int(resets_at.timestamp()))
        return used
    except _REDIS_ERRORS:
        metrics.cache_requests.labels(CACHE_NAME, "error").inc()
        return None


# -- grounding ------------------------------------------------------------------------------


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


async def _artist_facts(artist_id: UUID) -> ArtistFacts:
    rows = await db.fetch(
        "SELECT stage_name, primary_genre, secondary_genres, city, state, flat_rate,"
        " hourly_rate, rates_negotiable, years_performing, follower_count, avg_rating,"
        " total_reviews FROM artists WHERE id = $1",
        artist_id,
    )
    artist = rows[0]
    gigs = await db.fetch(
        "SELECT g.title, g.venue_name, g.city, g.state, g.date FROM gig_applications a"
        " JOIN gigs g ON g.id = a.gig_id"
        " WHERE a.artist_id = $1 AND a.status = 'accepted' AND g.status = 'completed'"
        " ORDER BY g.date DESC, g.id LIMIT $2",
        artist_id,
        RECENT_GIGS,
    )
    genres = [artist["primary_genre"], *(artist["secondary_genres"] or [])]
    return ArtistFacts(
        stage_name=artist["stage_name"],
        genres=[genre for genre in dict.fromkeys(genres) if genre],
        city=artist["city"],
        state=artist["state"],
        flat_rate=_decimal(artist["flat_rate"]),
        hourly_rate=_decimal(artist["hourly_rate"]),
        rates_negotiable=artist["rates_negotiable"],
        years_performing=artist["years_performing"],
        follower_count=artist["follower_count"],
        avg_rating=_decimal(artist["avg_rating"]),
        total_reviews=artist["total_reviews"],
        recent_gigs=[
            PastGig(
                title=gig["title"],
                venue_name=gig["venue_name"],
                city=gig["city"],
                state=gig["state"],
                day=gig["date"],
            )
            for gig in gigs
        ],
    )


async def _gig_facts(gig_id: UUID) -> GigFacts:
    rows = await db.fetch(
        "SELECT title, venue_name, city, state, date, start_time, payment_amount, payment_type,"
        " genre FROM gigs WHERE id = $1",
        gig_id,
    )
    if not rows:
        raise gigs_service.no_such_gig()
    gig = rows[0]
    return GigFacts(
        title=gig["title"],
        venue_name=gig["venue_name"],
        city=gig["city"],
        state=gig["state"],
        day=gig["date"],
        start_time=gig["start_time"],
        payment_amount=_decimal(gig["payment_amount"]),
        payment_type=gig["payment_type"],
        genre=gig["genre"],
    )


@dataclass(frozen=True)
class PromptParts:
    """What the model is sent: our instructions, and the venues' text as quoted data."""

    system: str
    data: str | None


async def get_prompt_parts(
    *, artist_id: UUID, context: Context, gig_id: UUID | None
) -> PromptParts:
    """The template's instructions with the artist's facts, and the gigs' text as data (D-076)."""
    gig = None
    if context is Context.GIG_INQUIRY and gig_id is not None:
        gig = await _gig_facts(gig_id)
    artist = await _artist_facts(artist_id)
    return PromptParts(
        system=system_prompt(context=context, artist=artist),
        data=venue_data(artist=artist, gig=gig),
    )


# -- use cases ------------------------------------------------------------------------------


async def create_prompt(
    *, redis: Redis, llm: Llm, metrics: Metrics, caller: Caller, prompt: PromptIn
) -> PromptOut:
    """Answer one prompt if the artist has one left today (D-062); a failed answer is free."""
    artist_id = await caller.require_artist()
    # The request is checked (an unknown gig is 404) before whether Violet is on at all.
    parts = await get_prompt_parts(
        artist_id=artist_id, context=prompt.context, gig_id=prompt.gig_id
    )
    if not llm.configured:
        metrics.violet_prompts.labels("unavailable").inc()
        raise NotConfigured(DEPENDENCY, UNAVAILABLE_MESSAGE)
    # One instant for the whole request: the Redis key and the row name the same day.
    now = datetime.now(UTC)
    day, resets_at = now.date(), next_midnight(now)
    counted = await _take_in_redis(
        redis, metrics, artist_id=artist_id, day=day, resets_at=resets_at
    )
    if counted is not None and counted > DAILY_LIMIT:
        await _give_back_in_redis(redis, metrics, artist_id=artist_id, day=day)
        metrics.violet_prompts.labels("limited").inc()
        raise _limit_reached(now)
    try:
        async with DB.transaction():
            reservation = await _reserve(
                artist_id=artist_id, day=day, context=prompt.context, prompt=prompt.prompt
            )
    except BaseException:
        if counted is not None:
            await _give_back_in_redis(redis, metrics, artist_id=artist_id, day=day)
        raise
    if reservation is None:
        if counted is not None:
            await _give_back_in_redis(redis, metrics, artist_id=artist_id, day=day)
        metrics.violet_prompts.labels("limited").inc()
        raise _limit_reached(now)
    usage_id, used = reservation
    if counted is not None and counted < used:
        await _raise_in_redis(
            redis, metrics, artist_id=artist_id, day=day, used=used, resets_at=resets_at
        )

    try:
        reply = await llm.complete(system=parts.system, data=parts.data, prompt=prompt.prompt)
    except BaseException:
        # Counted before the clean-up, which needs Postgres and may fail in its turn.
        metrics.violet_prompts.labels("failed").inc()
        # A failed answer gives the prompt back (SPEC §3.8), whatever the failure was.
        await db.fetch("DELETE FROM violet_usage WHERE id = $1", usage_id)
        await _give_back_in_redis(redis, metrics, artist_id=artist_id, day=day)
        raise
    await db.fetch(
        "UPDATE violet_usage SET status = 'succeeded', prompt_tokens = $1,"
        " response_tokens = $2, model = $3 WHERE id = $4",
        reply.input_tokens,
        reply.output_tokens,
        reply.model,
        usage_id,
    )
    metrics.violet_prompts.labels("answered").inc()
    return PromptOut(
        context=prompt.context,
        response=reply.text,
        model=reply.model,
        tokens=TokensOut(input_tokens=reply.input_tokens, output_tokens=reply.output_tokens),
        usage=_usage(used, resets_at),
    )


async def get_usage(*, redis: Redis, metrics: Metrics, caller: Caller) -> UsageOut:
    """The artist's prompts today: from Redis, or counted in Postgres when Redis is down."""
    artist_id = await caller.require_artist()
    now = datetime.now(UTC)
    day, resets_at = now.date(), next_midnight(now)
    used = await _used_in_redis(redis, metrics, artist_id=artist_id, day=day, resets_at=resets_at)
    if used is None:
        used = await _count_in_postgres(artist_id, day)
    return _usage(used, resets_at)
