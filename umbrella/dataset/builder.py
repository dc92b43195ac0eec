"""A realistic dataset at scale, bulk-loaded with binary COPY: for benchmarks and development.

`load_dataset` runs the load in one transaction; `people`, `gigs` and `conversations` write
their tables, from the draws of `draw`, through the batched COPY of `sinks`.

`umbrella seed --artists N --venues N --gigs N --messages N [--conversations N] [--fans N]
[--seed S]` adds, next to whatever the database holds (the demo seed included):

- artist and venue users (onboarded, `bench-…@bench.umbrella.test` emails), artist profiles
  with genres from the validated list, cities with a Zipf skew (a few big cities hold most
  artists), rates, a power law of followers (rows in `artist_followers`, counted on the
  profile), verified flags, a storage quota each;
- gigs from a year ago to six months ahead: future ones mostly open, past ones completed
  (with their accepted bookings and the artists' totals), cancelled or left open; shuffle keys
  and urgency flags as the app deals them (D-014, D-010);
- conversations (artist↔venue, artist↔artist): most short, a few with thousands of messages;
  messages are read when their recipient replies, as the SPA marks a thread read on opening
  it; every denormalised column (last message, unread counts, reads, email throttle, inbox
  versions) is what the messaging service would have written for that history;
- optionally one artist's contact list of `--fans` opted-in email members.

Content comes from a `random.Random(seed)`: the same seed gives the same names, cities and
shape. Ids come from a second generator salted with the number of bench users already there,
so a second run adds new rows instead of colliding. Everything is loaded in one transaction
(all or nothing). Never run it against production: `load_dataset` refuses.
"""

from __future__ import annotations

import logging
import random
import time
from datetime import UTC, datetime

import asyncpg

from umbrella.config import Environment, Settings
from umbrella.core import db
from umbrella.dataset.conversations import write_conversations
from umbrella.dataset.gigs import write_gigs
from umbrella.dataset.people import EMAIL_DOMAIN, write_fans, write_people
from umbrella.dataset.sinks import DatasetReport, TableLoad
from umbrella.dataset.size import DatasetSize
from umbrella.gigs import venue_cards
from umbrella.search import service as search_service

log = logging.getLogger(__name__)


class DatasetRefused(RuntimeError):
    """The bench dataset is never written into a production database."""


async def load_dataset(settings: Settings, size: DatasetSize) -> DatasetReport:
    """Write the requested dataset in one transaction, then VACUUM ANALYZE; refuses production."""
    if settings.env is Environment.PRODUCTION:
        raise DatasetRefused(
            "the scale dataset is for benchmarks and development: refusing a production database"
        )
    size = size.resolved()
    report = DatasetReport()
    started = time.perf_counter()
    async with db.database(settings, application_name="umbrella-seed") as engine:
        assert engine.pool is not None
        async with engine.pool.acquire() as connection:
            async with connection.transaction():
                await _load(connection, size, report)
            analyze = time.perf_counter()
            # Fresh statistics, so the planner sees the skew before the first benchmark query,
            # and a set visibility map, as autovacuum leaves a live table: without it the
            # planner prices the browse walk's index-only scan as heap reads and picks a
            # bitmap scan 300 times slower (docs/performance.md).
            tables = ("users", "artists", "storage_quotas", "artist_followers", "gigs",
                      "gig_applications", "conversations", "messages", "inbox_versions",
                      "contact_lists", "contact_list_members")  # fmt: skip
            for table in tables:
                await connection.execute(f"VACUUM (ANALYZE) {table}")  # names from the list above
            report.steps.append(
                TableLoad("VACUUM ANALYZE", len(tables), time.perf_counter() - analyze)
            )
        # What the venue-stats and search-words jobs keep up to date within 15 minutes of
        # any change: a live database always has them, so the dataset has them too.
        today = datetime.now(UTC).date()
        refresh = time.perf_counter()
        venues = await venue_cards.update_venue_stats(on=today)
        report.steps.append(TableLoad("venue_stats", venues, time.perf_counter() - refresh))
        refresh = time.perf_counter()
        words, _ = await search_service.refresh_gig_words(on=today)
        report.steps.append(TableLoad("gig_words", words, time.perf_counter() - refresh))
    report.total_seconds = time.perf_counter() - started
    return report


async def _load(connection: asyncpg.Connection, size: DatasetSize, report: DatasetReport) -> None:
    # Bulk statements outlive the app's statement timeout; commits need not wait for the disk.
    await connection.execute("SET LOCAL statement_timeout = 0")
    await connection.execute("SET LOCAL synchronous_commit = off")
    await _skip_foreign_key_checks(connection)
    now = datetime.now(UTC).replace(microsecond=0)
    run = int(
        await connection.fetchval(
            "SELECT count(*) FROM users WHERE email LIKE $1", f"bench-%@{EMAIL_DOMAIN}"
        )
    )
    rng = random.Random(size.seed)  # noqa: S311 - a reproducible dataset, not a secret
    # Ids from their own stream, salted by the run: re-running never collides, while the
    # content stream (names, cities, shapes) stays the same for a seed.
    ids = random.Random(f"umbrella-bench:{size.seed}:{run}")  # noqa: S311
    people = await write_people(connection, report, size, rng, ids, now, run)
    if size.gigs:
        await write_gigs(connection, report, size, people, rng, ids, now)
    if size.conversations:
        await write_conversations(connection, report, size, people, rng, ids, now)
    if size.fans:
        await write_fans(connection, report, size, people, ids, now)


async def _skip_foreign_key_checks(connection: asyncpg.Connection) -> None:
    """Replica mode skips the per-row foreign key triggers (our ids are consistent by
    construction); no table has an INSERT trigger, so nothing else is skipped. It needs a
    superuser: elsewhere the load runs with the checks, only slower."""
    try:
        async with connection.transaction():  # a savepoint: a refusal must not abort the load
            await connection.execute("SET LOCAL session_replication_role = replica")
    except asyncpg.InsufficientPrivilegeError:
        log.info("bench dataset: not a superuser, foreign keys are checked row by row")
