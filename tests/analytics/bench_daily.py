"""How long the `analytics-daily` aggregation takes for many artists (not a test: a script).

    .venv/bin/python -m tests.analytics.bench_daily [--artists 100000]

Starts a throwaway Postgres (umbrella.devstack), migrates it, bulk-inserts a year of
activity with generate_series, then times `create_daily_metrics` for one day in one
transaction: the first run (every row inserted), a re-run (nothing changed) and a run
after a late change. docs/analytics.md quotes the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from tests.conftest import Servers, make_settings
from umbrella.analytics import service
from umbrella.core import db
from umbrella.core.migrations import migrate
from umbrella.devstack import DevStack, Ports
from umbrella.piccolo_conf import DB

# Per artist: followers, reviews, and completed gigs over the past year.
FOLLOWERS = 10
REVIEWS = 3
GIGS_PER_YEAR = 12


def bulk_sql(artists: int) -> list[str]:
    day = "(now() AT TIME ZONE 'UTC')::date - 1"
    return [
        "SET synchronous_commit = off",
        f"""
        INSERT INTO users (id, oauth_provider, oauth_id, email, role, onboarding_complete)
        SELECT gen_random_uuid(), 'google', 'g' || n, 'u' || n || '@example.com', 'artist', true
        FROM generate_series(1, {artists}) n
        """,
        """
        INSERT INTO artists (user_id, stage_name, verified, avg_rating, created_at)
        SELECT id, 'Artist ' || oauth_id, random() < 0.2, round((1 + random() * 4)::numeric, 2),
               now() - interval '400 days'
        FROM users WHERE role = 'artist'
        """,
        """
        INSERT INTO users (oauth_provider, oauth_id, email, role, onboarding_complete)
        VALUES ('google', 'venue', 'venue@example.com', 'venue', true)
        """,
        f"""
        INSERT INTO artist_followers (artist_id, follower_user_id, created_at)
        SELECT a.id, u.id, now() - random() * interval '365 days'
        FROM (SELECT id, row_number() OVER () AS n FROM artists) a
        CROSS JOIN generate_series(0, {FOLLOWERS - 1}) k
        JOIN (SELECT id, row_number() OVER () AS n FROM users WHERE role = 'artist') u
          ON u.n = 1 + (a.n + k * 7919) % {artists}
        ON CONFLICT DO NOTHING
        """,
        f"""
        INSERT INTO reviews (artist_id, reviewer_email, rating, created_at)
        SELECT a.id, 'fan' || k || '@example.com', 1 + floor(random() * 5)::int,
               now() - random() * interval '365 days'
        FROM artists a CROSS JOIN generate_series(1, {REVIEWS}) k
        """,
        f"""
        INSERT INTO gigs (venue_id, title, venue_name, city, state, date, payment_amount,
                          capacity, filled_slots, status, completed_at)
        SELECT (SELECT id FROM users WHERE oauth_id = 'venue'), 'Gig', 'Hall', 'Austin', 'TX',
               c::date, 100, 2, 2, 'completed', c
        FROM (SELECT now() - random() * interval '365 days' AS c
              FROM generate_series(1, {artists * GIGS_PER_YEAR // 2})) t
        """,
        f"""
        INSERT INTO gig_applications (gig_id, artist_id, status, responded_at, earned_amount)
        SELECT g.id, a.id, 'accepted', g.completed_at, round((random() * 500)::numeric, 2)
        FROM (SELECT id, completed_at, row_number() OVER () AS n FROM gigs) g
        CROSS JOIN generate_series(0, 1) k
        JOIN (SELECT id, row_number() OVER () AS n FROM artists) a
          ON a.n = 1 + (g.n * 2 + k * 104729) % {artists}
        ON CONFLICT DO NOTHING
        """,
        f"""
        INSERT INTO profile_view_counts (artist_id, date, views)
        SELECT a.id, {day} - d, floor(random() * 50)::int
        FROM artists a CROSS JOIN generate_series(0, 6) d
        """,
        f"""
        INSERT INTO track_play_counts (artist_id, date, plays)
        SELECT a.id, {day} - d, floor(random() * 200)::int
        FROM artists a CROSS JOIN generate_series(0, 6) d
        """,
        "ANALYZE",
    ]


async def bench(home: Path, artists: int) -> None:
    stack = DevStack(home, ports=Ports.random(), durable=False, start_redis=False, start_s3=False)
    endpoints = stack.start()
    try:
        url = str(endpoints.database_url)
        servers = Servers(url, "redis://127.0.0.1:1", "http://127.0.0.1:1", "x", "y", None)
        settings = make_settings(servers, db_pool_max_size=2)
        # the bulk seed runs long statements; the batch sets its own limit
        seed_settings = settings.model_copy(update={"db_statement_timeout_ms": 0})
        await migrate(settings)
        async with db.database(seed_settings, application_name="bench-analytics") as engine:
            started = time.perf_counter()
            for statement in bulk_sql(artists):
                await engine.run_ddl(statement)
            counts = await engine.run_ddl(
                "SELECT (SELECT count(*) FROM artists) AS artists,"
                " (SELECT count(*) FROM artist_followers) AS followers,"
                " (SELECT count(*) FROM reviews) AS reviews,"
                " (SELECT count(*) FROM gig_applications) AS bookings,"
                " (SELECT count(*) FROM profile_view_counts) AS view_days"
            )
            print(f"seeded in {time.perf_counter() - started:.1f} s: {dict(counts[0])}")
            day = service.today() - timedelta(days=1)
            for label in ("first run", "re-run, nothing changed", "re-run after a change"):
                if label == "re-run after a change":
                    await engine.run_ddl("UPDATE profile_view_counts SET views = views + 1")
                started = time.perf_counter()
                async with DB.transaction():
                    written = await service.create_daily_metrics(day=day)
                elapsed = time.perf_counter() - started
                print(f"{label}: {written} rows written in {elapsed:.2f} s")
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artists", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-analytics-") as home:
        asyncio.run(bench(Path(home), args.artists))


if __name__ == "__main__":
    main()
