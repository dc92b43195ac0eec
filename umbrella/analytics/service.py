"""Analytics: the daily per-artist batch (D-008), what an artist reads of it, and spotlight.

The batch writes one `daily_metrics` row per artist for a UTC day with a single
`INSERT … SELECT … ON CONFLICT DO UPDATE`: every figure is recomputed from the source
tables, so re-running a day gives the same rows and a late-reported earning is picked up.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from redis.asyncio import Redis

from umbrella.analytics.schemas import (
    AnalyticsOut,
    AnalyticsTotalsOut,
    ChartOut,
    ChartPeriod,
    ChartPointOut,
    DailyMetricOut,
    SpotlightOut,
)
from umbrella.artists import service as artists_service
from umbrella.core import db
from umbrella.core.cache import REDIS_DOWN_ERRORS
from umbrella.core.storage import Storage
from umbrella.observability.metrics import Metrics
from umbrella.search.schemas import ArtistCardOut
from umbrella.search.service import ARTIST_CARD

log = logging.getLogger(__name__)

# D-068: spotlight shows up to 10 random verified artists rated above 4.5.
SPOTLIGHT_SIZE = 10
SPOTLIGHT_MIN_RATING = Decimal("4.5")
SPOTLIGHT_TTL_SECONDS = 24 * 3600
# The api's 10-second statement limit is for requests; the batch may take longer
# (100,000 artists: a few seconds, docs/analytics.md), and must not be cut off.
DAILY_STATEMENT_TIMEOUT = "5min"
CHART_DAYS = 30
CHART_MONTHS = 12
RECENT_DAYS = 30
# OWASP CSV injection: a spreadsheet runs a cell starting with = + - @ (or a tab or CR) as a
# formula. It may split cells on , ; tab or | and lines on CR/LF, whatever we quoted, so
# every piece after any of those counts as a cell start too (spaces and quotes skipped).
_FORMULA_PIECE = re.compile(r"(^|[,;\t|\r\n])(?=[\s\"]*[=+\-@])")
_CONTROL_STARTS = ("\t", "\r")


def today() -> date:
    """The analytics calendar day: UTC (D-008)."""
    return datetime.now(UTC).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC day as a half-open range of instants."""
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


# -- the daily batch (D-008) -----------------------------------------------------------------

# One statement for every artist (no per-artist loop). Each figure is an aggregate joined
# by artist id, so Postgres reads each source table once (hash joins) whatever the number
# of artists. Followers and the rating are "as of the end of the day": rows made before it
# (an unfollow deletes its row, so a re-run of an old day counts today's followers made
# before then). Parameters: $1 the day, $2 its start, $3 its end.
_DAILY_SQL = """
INSERT INTO daily_metrics AS m (
    artist_id, date, earnings, gigs_completed, profile_views, followers, avg_rating,
    track_plays, created_at, updated_at
)
SELECT a.id, $1::date, coalesce(e.earnings, 0), coalesce(e.gigs, 0),
       coalesce(v.views, 0), coalesce(f.followers, 0), r.avg_rating, coalesce(p.plays, 0),
       now(), now()
FROM artists a
LEFT JOIN (
    -- D-080: completion day is when the gig was marked completed; earnings are reported
    SELECT ga.artist_id, sum(coalesce(ga.earned_amount, 0)) AS earnings, count(*) AS gigs
    FROM gigs g JOIN gig_applications ga ON ga.gig_id = g.id AND ga.status = 'accepted'
    WHERE g.status = 'completed' AND g.completed_at >= $2 AND g.completed_at < $3
    GROUP BY ga.artist_id
) e ON e.artist_id = a.id
LEFT JOIN profile_view_counts v ON v.artist_id = a.id AND v.date = $1::date
LEFT JOIN (
    SELECT artist_id, count(*) AS followers FROM artist_followers
    WHERE created_at < $3 GROUP BY artist_id
) f ON f.artist_id = a.id
LEFT JOIN (
    SELECT artist_id, round(avg(rating), 2) AS avg_rating FROM reviews
    WHERE created_at < $3 GROUP BY artist_id
) r ON r.artist_id = a.id
LEFT JOIN track_play_counts p ON p.artist_id = a.id AND p.date = $1::date
WHERE a.created_at < $3
ON CONFLICT (artist_id, date) DO UPDATE SET
    earnings = EXCLUDED.earnings,
    gigs_completed = EXCLUDED.gigs_completed,
    profile_views = EXCLUDED.profile_views,
    followers = EXCLUDED.followers,
    avg_rating = EXCLUDED.avg_rating,
    track_plays = EXCLUDED.track_plays,
    updated_at = now()
-- an unchanged row is not rewritten: a re-run costs reads, not a table's worth of dead rows
WHERE (m.earnings, m.gigs_completed, m.profile_views, m.followers, m.avg_rating,
       m.track_plays)
    IS DISTINCT FROM (EXCLUDED.earnings, EXCLUDED.gigs_completed, EXCLUDED.profile_views,
                      EXCLUDED.followers, EXCLUDED.avg_rating, EXCLUDED.track_plays)
"""


async def create_daily_metrics(*, day: date) -> int:
    """Write every artist's `daily_metrics` row for a UTC day (in the caller's transaction)."""
    start, end = day_bounds(day)
    await db.fetch(f"SET LOCAL statement_timeout = '{DAILY_STATEMENT_TIMEOUT}'")
    rows = await db.fetch(
        f"WITH written AS ({_DAILY_SQL} RETURNING 1) SELECT count(*) AS n FROM written",
        day,
        start,
        end,
    )
    return int(rows[0]["n"])


# -- what an artist reads -------------------------------------------------------------------

_METRIC_COLUMNS = (
    "date, earnings, gigs_completed, profile_views, followers, avg_rating, track_plays"
)


async def get_analytics(*, artist_id: UUID, on: date) -> AnalyticsOut:
    """The artist's latest daily row and totals, with sums of the 30 days before `on`."""
    latest = await db.fetch(
        f"SELECT {_METRIC_COLUMNS} FROM daily_metrics WHERE artist_id = $1"
        " ORDER BY date DESC LIMIT 1",
        artist_id,
    )
    totals = await db.fetch(
        "SELECT a.total_earnings, a.total_gigs, a.follower_count AS followers, a.avg_rating,"
        " a.total_reviews, a.profile_views,"
        " coalesce(s.earnings, 0) AS earnings_last_30_days,"
        " coalesce(s.gigs, 0) AS gigs_last_30_days,"
        " coalesce(s.views, 0) AS views_last_30_days,"
        " coalesce(s.plays, 0) AS plays_last_30_days"
        " FROM artists a LEFT JOIN LATERAL ("
        "   SELECT sum(earnings) AS earnings, sum(gigs_completed) AS gigs,"
        "   sum(profile_views) AS views, sum(track_plays) AS plays FROM daily_metrics"
        "   WHERE artist_id = a.id AND date >= $1 AND date < $2"
        " ) s ON true WHERE a.id = $3",
        on - timedelta(days=RECENT_DAYS),
        on,
        artist_id,
    )
    return AnalyticsOut(
        latest=DailyMetricOut.model_validate(latest[0]) if latest else None,
        totals=AnalyticsTotalsOut.model_validate(totals[0]),
    )


def chart_range(*, period: ChartPeriod, on: date) -> tuple[date, date]:
    """First and last point of a chart drawn on `on`: it ends with the last finished day."""
    last_day = on - timedelta(days=1)
    if period == "monthly":
        return last_day - timedelta(days=CHART_DAYS - 1), last_day
    last_month = last_day.replace(day=1)
    months = last_month.year * 12 + last_month.month - 1 - (CHART_MONTHS - 1)
    return date(months // 12, months % 12 + 1, 1), last_month


async def get_chart(*, artist_id: UUID, period: ChartPeriod, on: date) -> ChartOut:
    """A series of the artist's daily rows: 30 days by day, or 12 months by month."""
    first, last = chart_range(period=period, on=on)
    step = "1 day" if period == "monthly" else "1 month"
    # Every period has a point (zeros where the batch wrote nothing); followers and the
    # rating are levels, not flows: a month shows its last day's.
    rows = await db.fetch(
        "SELECT s.start::date AS date,"
        " coalesce(sum(m.earnings), 0) AS earnings,"
        " coalesce(sum(m.gigs_completed), 0) AS gigs_completed,"
        " coalesce(sum(m.profile_views), 0) AS profile_views,"
        " coalesce(sum(m.track_plays), 0) AS track_plays,"
        " (array_agg(m.followers ORDER BY m.date DESC)"
        "   FILTER (WHERE m.followers IS NOT NULL))[1] AS followers,"
        " (array_agg(m.avg_rating ORDER BY m.date DESC)"
        "   FILTER (WHERE m.avg_rating IS NOT NULL))[1] AS avg_rating"
        " FROM generate_series($1::date, $2::date, $3::text::interval) AS s(start)"
        " LEFT JOIN daily_metrics m ON m.artist_id = $4"
        "   AND m.date >= s.start AND m.date < s.start + $5::text::interval"
        " GROUP BY s.start ORDER BY s.start",
        first,
        last,
        step,
        artist_id,
        step,
    )
    return ChartOut(period=period, points=[ChartPointOut.model_validate(row) for row in rows])


def earnings_range(*, date_from: date | None, date_to: date | None, on: date) -> tuple[date, date]:
    """The export's range: a missing end is the other's year end (or start), else `on`'s year."""
    year = (date_from or date_to or on).year
    return date_from or date(year, 1, 1), date_to or date(year, 12, 31)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A leading quote makes a spreadsheet show the piece as text instead of running it.
    text = _FORMULA_PIECE.sub(lambda match: match.group(1) + "'", text)
    return "'" + text if text.startswith(_CONTROL_STARTS) else text


EARNINGS_HEADER = ("date", "venue", "title", "city", "state", "amount", "completed_at")


async def get_earnings_csv(*, artist_id: UUID, date_from: date, date_to: date) -> str:
    """The artist's completed gigs dated within the range, as CSV for an accountant."""
    rows = await db.fetch(
        "SELECT g.date, g.venue_name, g.title, g.city, g.state,"
        " coalesce(ga.earned_amount, 0) AS amount, g.completed_at"
        " FROM gig_applications ga JOIN gigs g ON g.id = ga.gig_id"
        " WHERE ga.artist_id = $1 AND ga.status = 'accepted' AND g.status = 'completed'"
        " AND g.date BETWEEN $2 AND $3 ORDER BY g.date, g.completed_at, g.id",
        artist_id,
        date_from,
        date_to,
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EARNINGS_HEADER)
    for row in rows:
        writer.writerow(
            [
                row["date"].isoformat(),
                _cell(row["venue_name"]),
                _cell(row["title"]),
                _cell(row["city"]),
                _cell(row["state"]),
                f"{Decimal(row['amount']):.2f}",
                row["completed_at"].astimezone(UTC).isoformat(),
            ]
        )
    return out.getvalue()


# -- spotlight (D-068) ----------------------------------------------------------------------


def spotlight_key(on: date) -> str:
    return f"spotlight:{on.isoformat()}"


async def _pick_spotlight() -> list[UUID]:
    rows = await db.fetch(
        "SELECT a.id FROM artists a JOIN users u ON u.id = a.user_id"
        " WHERE a.verified AND a.avg_rating > $1 AND u.onboarding_complete"
        " ORDER BY random() LIMIT $2",
        SPOTLIGHT_MIN_RATING,
        SPOTLIGHT_SIZE,
    )
    return [UUID(str(row["id"])) for row in rows]


async def create_spotlight(*, redis: Redis | None, on: date) -> list[UUID]:
    """Pick the day's spotlight and cache it for 24 hours; a pick already cached stands."""
    picked = await _pick_spotlight()
    if redis is None:
        return picked
    key = spotlight_key(on)
    try:
        # NX: whoever picks first (this job or a reader's miss) sets the day's spotlight,
        # so it does not change under visitors during the day.
        if await redis.set(
            key, json.dumps([str(i) for i in picked]), nx=True, ex=SPOTLIGHT_TTL_SECONDS
        ):
            return picked
        cached = await redis.get(key)
    except REDIS_DOWN_ERRORS:
        log.warning("redis unavailable; spotlight not cached")
        return picked
    return picked if cached is None else [UUID(i) for i in json.loads(cached)]


async def _cached_spotlight(redis: Redis, metrics: Metrics, on: date) -> list[UUID] | None:
    try:
        raw = await redis.get(spotlight_key(on))
    except REDIS_DOWN_ERRORS:
        metrics.cache_requests.labels("spotlight", "error").inc()
        return None
    metrics.cache_requests.labels("spotlight", "hit" if raw is not None else "miss").inc()
    return None if raw is None else [UUID(i) for i in json.loads(raw)]


async def get_spotlight(
    *, redis: Redis, metrics: Metrics, storage: Storage, on: date
) -> SpotlightOut:
    """The day's spotlight: from the cache, picked anew on a miss or when Redis is down."""
    ids = await _cached_spotlight(redis, metrics, on)
    if ids is None:
        ids = await create_spotlight(redis=redis, on=on)
    # Cards are read now, so a profile change or a lost rating shows at once.
    rows = await db.fetch(
        f"SELECT {ARTIST_CARD} FROM artists a JOIN users u ON u.id = a.user_id"
        " WHERE a.id = ANY($1::uuid[]) AND a.verified AND a.avg_rating > $2"
        " AND u.onboarding_complete",
        ids,
        SPOTLIGHT_MIN_RATING,
    )
    by_id = {UUID(str(row["id"])): row for row in rows}
    cards = []
    for artist_id in ids:
        row = by_id.get(artist_id)
        if row is None:
            continue
        key = row.get("avatar_url")
        link = (
            await storage.presigned_get(key, expires=artists_service.IMAGE_URL_EXPIRY)
            if key
            else None
        )
        cards.append(ArtistCardOut.model_validate({**row, "avatar_url": link}))
    return SpotlightOut(date=on, artists=cards)
