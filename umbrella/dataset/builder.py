"""A realistic dataset at scale, bulk-loaded with binary COPY: for benchmarks and development.

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

import bisect
import itertools
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from typing import Any

import asyncpg

from umbrella.artists.genres import GENRES
from umbrella.config import Environment, Settings
from umbrella.core import db
from umbrella.dataset.size import DatasetSize
from umbrella.gigs import venue_cards
from umbrella.messaging.messages import NOTIFY_EVERY, PREVIEW_CHARS
from umbrella.search import service as search_service

log = logging.getLogger(__name__)

BATCH_ROWS = 50_000  # rows per COPY: bounded memory, few round trips
EMAIL_DOMAIN = "bench.umbrella.test"
FAN_DOMAIN = "fans.bench.umbrella.test"
SHUFFLE_KEYS = 2_147_483_647  # as umbrella.gigs.service deals them
URGENCY_DAYS = 7  # D-010
LONG_CONVERSATION = 1_000  # messages from which a conversation counts as long
DAY_US = 86_400_000_000
MINUTE_US = 60_000_000

# Biggest first: the Zipf skew puts most artists, venues and gigs in the first few.
CITIES: tuple[tuple[str, str], ...] = (
    ("Los Angeles", "CA"), ("New York", "NY"), ("Nashville", "TN"), ("Austin", "TX"),
    ("Chicago", "IL"), ("Atlanta", "GA"), ("Brooklyn", "NY"), ("Seattle", "WA"),
    ("Miami", "FL"), ("Denver", "CO"), ("Portland", "OR"), ("New Orleans", "LA"),
    ("San Francisco", "CA"), ("Philadelphia", "PA"), ("Houston", "TX"), ("Detroit", "MI"),
    ("Minneapolis", "MN"), ("Boston", "MA"), ("Washington", "DC"), ("Dallas", "TX"),
    ("Phoenix", "AZ"), ("San Diego", "CA"), ("Oakland", "CA"), ("Memphis", "TN"),
    ("Kansas City", "MO"), ("Pittsburgh", "PA"), ("Columbus", "OH"), ("Asheville", "NC"),
    ("Salt Lake City", "UT"), ("Richmond", "VA"), ("Baltimore", "MD"), ("St. Louis", "MO"),
    ("Las Vegas", "NV"), ("Charlotte", "NC"), ("Tampa", "FL"), ("Milwaukee", "WI"),
    ("Louisville", "KY"), ("Albuquerque", "NM"), ("Tucson", "AZ"), ("Omaha", "NE"),
    ("Boise", "ID"), ("Savannah", "GA"), ("Burlington", "VT"), ("Athens", "GA"),
    ("Missoula", "MT"), ("Eugene", "OR"), ("Madison", "WI"), ("Providence", "RI"),
)  # fmt: skip

# Most booked first; a genre added to the validated list later simply comes last.
_GENRE_POPULARITY = (
    "pop", "hip_hop", "rock", "indie", "electronic", "country", "r_and_b", "jazz", "house",
    "folk", "alternative", "singer_songwriter", "latin", "soul", "metal", "punk", "edm",
    "techno", "blues", "acoustic", "reggaeton", "afrobeats", "funk", "americana", "gospel",
    "reggae", "dance", "drum_and_bass", "ambient", "classical", "experimental", "k_pop",
    "world", "other",
)  # fmt: skip
GENRE_ORDER: tuple[str, ...] = tuple(
    sorted(
        GENRES,
        key=lambda g: _GENRE_POPULARITY.index(g) if g in _GENRE_POPULARITY else len(GENRES),
    )
)

_FIRST = (
    "Luna", "Marcus", "Kai", "Rosa", "Nova", "Eli", "Maya", "Theo", "Iris", "Jonah", "Zara",
    "Otis", "Ruby", "Felix", "Ada", "Miles", "June", "Silas", "Nina", "Arlo", "Sage", "Leon",
    "Hazel", "Idris", "Cleo", "Rafael", "Wren", "Dante", "Esme", "Jude",
)  # fmt: skip
_LAST = (
    "Vega", "Reed", "Hart", "Stone", "Rivers", "Lane", "Cole", "Fox", "Wilde", "Monroe",
    "Blake", "Quinn", "Hayes", "Santos", "Okafor", "Kim", "Novak", "Bishop", "Cruz", "Dunn",
)  # fmt: skip
_ADJECTIVE = (
    "Velvet", "Electric", "Golden", "Midnight", "Neon", "Copper", "Silver", "Wild", "Lonely",
    "Crimson", "Paper", "Hollow", "Northern", "Static", "Honey", "Broken", "Blue", "Lucky",
)  # fmt: skip
_NOUN = (
    "Pines", "Foxes", "Rivers", "Echoes", "Satellites", "Wolves", "Lanterns", "Sparrows",
    "Horses", "Tides", "Comets", "Ghosts", "Saints", "Owls", "Arrows", "Parade",
)  # fmt: skip
_ROOM = (
    "Room", "Hall", "Lounge", "Tavern", "Theatre", "Club", "Social", "Garden", "Ballroom",
    "Cellar", "Taproom", "House", "Stage", "Cafe",
)  # fmt: skip
_STREETS = ("Main St", "Broadway", "Oak Ave", "2nd St", "Elm St", "Market St", "Water St")
_NIGHTS = ("Night", "Showcase", "Session", "Social", "Brunch", "Residency", "Takeover", "Jam")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_LINES = (
    "Hi! Is the slot still open?",
    "Yes, it is. Can you do a 45-minute set?",
    "Sounds great, thanks!",
    "What time is load-in?",
    "Load-in at 6, doors at 7.",
    "Do you provide backline?",
    "We have a drum kit and two amps.",
    "Perfect. I'll bring my own mics.",
    "Can we talk about the rate?",
    "Sending the setlist tonight.",
    "See you Friday!",
    "Running ten minutes late, sorry.",
    "Loved the show last night.",
    "Want to co-headline next month?",
    "Parking is behind the building.",
    "Can I bring a guest?",
    "Sure, put them on the list.",
    "Just confirmed with the sound engineer.",
    "Thanks for having us!",
    "Let's do it again soon.",
    "ok",
    "👍",
)
_LONG_LINE = (
    "Here is everything for the night: we go on at nine, the set is about seventy minutes "
    "with a short encore, the stage plot is attached in my last email, and we need four "
    "vocal mics, two DIs for the keys and a monitor mix for each of us. "
)
_PERFORMANCE_TYPES = ("live band", "solo acoustic", "DJ set", "duo", "full production")
_PAYMENT_WEIGHTS = (("flat", 65), ("hourly", 20), ("negotiable", 15))
_CAPACITY_WEIGHTS = ((1, 70), (2, 15), (3, 8), (4, 4), (5, 3))


class DatasetRefused(RuntimeError):
    """The bench dataset is never written into a production database."""


@dataclass(frozen=True)
class TableLoad:
    """One step of the load: rows written (or changed) and its wall time."""

    name: str
    rows: int
    seconds: float


@dataclass
class DatasetReport:
    """What `load_dataset` wrote, step by step; `str()` is the table the CLI prints."""

    steps: list[TableLoad] = field(default_factory=list)
    total_seconds: float = 0.0

    def rows(self, name: str) -> int:
        return sum(step.rows for step in self.steps if step.name == name)

    def __str__(self) -> str:
        width = max([len(step.name) for step in self.steps] + [5])
        lines = [f"{'table':<{width}}  {'rows':>11}  {'seconds':>8}  {'rows/s':>9}"]
        for step in self.steps:
            rate = f"{step.rows / step.seconds:>9,.0f}" if step.seconds > 0 else f"{'-':>9}"
            lines.append(f"{step.name:<{width}}  {step.rows:>11,}  {step.seconds:>8.2f}  {rate}")
        lines.append(f"{'total':<{width}}  {'':>11}  {self.total_seconds:>8.2f}")
        return "\n".join(lines)


# -- drawing ----------------------------------------------------------------------------------


class _Zipf:
    """Index i in [0, n) with weight 1 / (i + 1) ** exponent, in O(log n) per draw."""

    def __init__(self, n: int, exponent: float) -> None:
        self._cumulative = list(itertools.accumulate(1.0 / (i + 1) ** exponent for i in range(n)))
        self._last = n - 1

    def __call__(self, rng: random.Random) -> int:
        index = bisect.bisect_right(self._cumulative, rng.random() * self._cumulative[-1])
        return min(index, self._last)


def _weighted(pairs: Sequence[tuple[Any, int]]) -> tuple[list[Any], list[int]]:
    return [value for value, _ in pairs], list(itertools.accumulate(weight for _, weight in pairs))


def _new_id(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _stage_name(rng: random.Random) -> str:
    shape = rng.randrange(6)
    if shape == 0:
        return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    if shape == 1:
        return f"The {rng.choice(_ADJECTIVE)} {rng.choice(_NOUN)}"
    if shape == 2:
        return f"DJ {rng.choice(_FIRST)}"
    if shape == 3:
        return f"{rng.choice(_FIRST)} & The {rng.choice(_NOUN)}"
    if shape == 4:
        return f"{rng.choice(_FIRST)} {rng.choice(_LAST)} Trio"
    return f"{rng.choice(_ADJECTIVE)} {rng.choice(_NOUN)}"


def _venue_name(rng: random.Random) -> str:
    return f"The {rng.choice(_ADJECTIVE)} {rng.choice(_ROOM)}"


def _money(value: float, step: int) -> Decimal:
    return Decimal(max(step, int(value / step) * step))


def _content(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.01:  # the odd long message (a rider, a stage plot), under D-043's 2,000 chars
        return (_LONG_LINE * rng.randint(2, 8)).strip()
    if roll < 0.75:
        return rng.choice(_LINES)
    return f"{rng.choice(_LINES)} {rng.choice(_LINES)}"


def _preview(content: str) -> str:
    # As umbrella.messaging.messages shows the last message in the inbox.
    flat = " ".join(content.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


# -- writing ----------------------------------------------------------------------------------


class _Sink:
    """Rows for one table, copied in batches; a parent sink is flushed first (foreign keys)."""

    def __init__(
        self,
        connection: asyncpg.Connection,
        table: str,
        columns: Sequence[str],
        *,
        parent: _Sink | None = None,
    ) -> None:
        self.connection = connection
        self.table = table
        self.columns = tuple(columns)
        self.parent = parent
        self.buffer: list[tuple[Any, ...]] = []
        self.rows = 0
        self.seconds = 0.0

    def add(self, record: tuple[Any, ...]) -> bool:
        """Buffer a row; True when the batch is full and should be flushed."""
        self.buffer.append(record)
        return len(self.buffer) >= BATCH_ROWS

    async def flush(self) -> None:
        if self.parent is not None:
            await self.parent.flush()
        if not self.buffer:
            return
        started = time.perf_counter()
        await self.connection.copy_records_to_table(
            self.table, records=self.buffer, columns=self.columns
        )
        self.seconds += time.perf_counter() - started
        self.rows += len(self.buffer)
        self.buffer = []


class _Phase:
    """Times a step; the sinks' own copy time is reported on their lines, the rest on the first."""

    def __init__(self, report: DatasetReport, sinks: Sequence[_Sink]) -> None:
        self.report = report
        self.sinks = sinks
        self.started = time.perf_counter()

    async def finish(self) -> None:
        for sink in self.sinks:
            await sink.flush()
        elapsed = time.perf_counter() - self.started
        others = sum(sink.seconds for sink in self.sinks[1:])
        lead, *rest = self.sinks
        self.report.steps.append(TableLoad(lead.table, lead.rows, elapsed - others))
        for sink in rest:
            self.report.steps.append(TableLoad(sink.table, sink.rows, sink.seconds))
        log.info("bench dataset: %s", ", ".join(f"{s.table} {s.rows}" for s in self.sinks))


async def _step(
    report: DatasetReport, connection: asyncpg.Connection, name: str, sql: str, *args: Any
) -> None:
    """One set-based statement, timed; its row count from the command tag."""
    started = time.perf_counter()
    status = await connection.execute(sql, *args)
    tail = status.rsplit(" ", 1)[-1]
    report.steps.append(
        TableLoad(name, int(tail) if tail.isdigit() else 0, time.perf_counter() - started)
    )


# -- the load ---------------------------------------------------------------------------------


@dataclass
class _People:
    """What later steps need to know of the users written, one entry per index."""

    artist_user_ids: list[uuid.UUID]
    artist_ids: list[uuid.UUID]
    venue_user_ids: list[uuid.UUID]
    venue_names: list[str]
    venue_cities: list[int]
    most_followed: int  # artist index


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
    people = await _people(connection, report, size, rng, ids, now, run)
    if size.gigs:
        await _gigs(connection, report, size, people, rng, ids, now)
    if size.conversations:
        await _conversations(connection, report, size, people, rng, ids, now)
    if size.fans:
        await _fans(connection, report, size, people, ids, now)


async def _skip_foreign_key_checks(connection: asyncpg.Connection) -> None:
    """Replica mode skips the per-row foreign key triggers (our ids are consistent by
    construction); no table has an INSERT trigger, so nothing else is skipped. It needs a
    superuser: elsewhere the load runs with the checks, only slower."""
    try:
        async with connection.transaction():  # a savepoint: a refusal must not abort the load
            await connection.execute("SET LOCAL session_replication_role = replica")
    except asyncpg.InsufficientPrivilegeError:
        log.info("bench dataset: not a superuser, foreign keys are checked row by row")


async def _people(
    connection: asyncpg.Connection,
    report: DatasetReport,
    size: DatasetSize,
    rng: random.Random,
    ids: random.Random,
    now: datetime,
    run: int,
) -> _People:
    users = _Sink(
        connection,
        "users",
        ("id", "oauth_provider", "oauth_id", "email", "display_name", "role",
         "onboarding_complete", "onboarding_step", "created_at", "updated_at",
         "last_login_at", "role_chosen_at"),
    )  # fmt: skip
    artists = _Sink(
        connection,
        "artists",
        ("id", "user_id", "stage_name", "city", "state", "country", "bio", "tagline",
         "primary_genre", "secondary_genres", "performance_types", "flat_rate", "hourly_rate",
         "rates_negotiable", "travel_radius_miles", "available_weekdays", "available_weekends",
         "advance_booking_weeks", "years_performing", "verified", "profile_views",
         "follower_count", "created_at", "updated_at"),
        parent=users,
    )  # fmt: skip
    phase = _Phase(report, (users, artists))
    city_of = _Zipf(len(CITIES), 1.07)
    genre_of = _Zipf(len(GENRE_ORDER), 0.9)
    # Followers first: the power law decides who is popular (and so more likely verified).
    followers = [_follower_count(rng, size.artists + size.venues) for _ in range(size.artists)]
    people = _People(
        [], [], [], [], [], max(range(size.artists), key=followers.__getitem__, default=0)
    )

    def user(user_id: uuid.UUID, email: str, name: str, role: str, joined: datetime) -> None:
        seen = now - timedelta(seconds=rng.randrange(30 * 86_400))
        users.add((user_id, "google", f"bench-{user_id}", email, name, role, True, 5, joined,
                   joined, seen, joined))  # fmt: skip

    for index in range(size.artists):
        user_id, artist_id = _new_id(ids), _new_id(ids)
        name = _stage_name(rng)
        city, state = CITIES[city_of(rng)]
        primary = GENRE_ORDER[genre_of(rng)]
        secondary = sorted({GENRE_ORDER[genre_of(rng)] for _ in range(rng.choice((0, 1, 2, 2)))})
        secondary = [genre for genre in secondary if genre != primary]
        joined = now - timedelta(seconds=rng.randrange(86_400, 730 * 86_400))
        flat = _money(rng.lognormvariate(6.2, 0.6), 25)
        count = followers[index]
        user(user_id, f"bench-artist-{run + index}@{EMAIL_DOMAIN}", name, "artist", joined)
        artists.add(
            (artist_id, user_id, name, city, state, "US",
             f"{name} plays {primary.replace('_', ' ')} across {state}.",
             f"{primary.replace('_', ' ').title()} from {city}",
             primary, secondary, rng.sample(_PERFORMANCE_TYPES, rng.randint(1, 2)),
             flat, _money(float(flat) / 4, 5), rng.random() < 0.5,
             rng.choice((10, 25, 50, 100, 250)), rng.random() < 0.6, rng.random() < 0.9,
             rng.randint(1, 8), rng.randint(0, 30), count >= 200 or rng.random() < 0.03,
             count * 20 + rng.randrange(500), count, joined, joined)
        )  # fmt: skip
        people.artist_user_ids.append(user_id)
        people.artist_ids.append(artist_id)
        if len(artists.buffer) >= BATCH_ROWS:
            await artists.flush()
    for index in range(size.venues):
        user_id = _new_id(ids)
        name = _venue_name(rng)
        city_index = city_of(rng)
        joined = now - timedelta(seconds=rng.randrange(86_400, 730 * 86_400))
        user(user_id, f"bench-venue-{run + index}@{EMAIL_DOMAIN}", name, "venue", joined)
        people.venue_user_ids.append(user_id)
        people.venue_names.append(name)
        people.venue_cities.append(city_index)
        if len(users.buffer) >= BATCH_ROWS:
            await users.flush()
    await phase.finish()

    quotas = _Sink(connection, "storage_quotas", ("artist_id", "updated_at"))
    phase = _Phase(report, (quotas,))
    for artist_id in people.artist_ids:
        if quotas.add((artist_id, now)):
            await quotas.flush()
    await phase.finish()

    if any(followers):
        await _followers(connection, report, people, followers, rng, ids, now)
    return people


def _follower_count(rng: random.Random, users: int) -> int:
    """A power law: most artists have none, a few have thousands."""
    return min(int((rng.paretovariate(1.2) - 1) * 0.6), max(users - 1, 0))


async def _followers(
    connection: asyncpg.Connection,
    report: DatasetReport,
    people: _People,
    followers: list[int],
    rng: random.Random,
    ids: random.Random,
    now: datetime,
) -> None:
    sink = _Sink(
        connection, "artist_followers", ("id", "artist_id", "follower_user_id", "created_at")
    )
    phase = _Phase(report, (sink,))
    everyone = people.artist_user_ids + people.venue_user_ids
    for index, count in enumerate(followers):
        if not count:
            continue
        artist_id = people.artist_ids[index]
        # Anyone but the artist: draw among n - 1 and step over their own index.
        for other in rng.sample(range(len(everyone) - 1), count):
            follower = everyone[other + 1 if other >= index else other]
            at = now - timedelta(seconds=rng.randrange(365 * 86_400))
            if sink.add((_new_id(ids), artist_id, follower, at)):
                await sink.flush()
    await phase.finish()


async def _gigs(
    connection: asyncpg.Connection,
    report: DatasetReport,
    size: DatasetSize,
    people: _People,
    rng: random.Random,
    ids: random.Random,
    now: datetime,
) -> None:
    gigs = _Sink(
        connection,
        "gigs",
        ("id", "venue_id", "title", "description", "venue_name", "city", "state", "address",
         "zip", "date", "start_time", "end_time", "genre", "payment_amount", "payment_type",
         "capacity", "filled_slots", "urgency_flag", "status", "shuffle_key",
         "previous_shuffle_key", "created_at", "updated_at", "completed_at", "cancelled_at"),
    )  # fmt: skip
    bookings = _Sink(
        connection,
        "gig_applications",
        ("id", "gig_id", "artist_id", "status", "message", "applied_at", "viewed_at",
         "responded_at", "earned_amount", "updated_at"),
        parent=gigs,
    )  # fmt: skip
    phase = _Phase(report, (gigs, bookings))
    today = now.date()
    venue_of = _Zipf(len(people.venue_user_ids), 0.8)  # a few venues post most gigs
    genre_of = _Zipf(len(GENRE_ORDER), 0.9)
    payments, payment_weights = _weighted(_PAYMENT_WEIGHTS)
    capacities, capacity_weights = _weighted(_CAPACITY_WEIGHTS)
    can_book = len(people.artist_ids) >= 5  # bookings need artists
    midnight = datetime.combine(today, clock(0), tzinfo=UTC)
    for _ in range(size.gigs):
        venue = venue_of(rng)
        city, state = CITIES[people.venue_cities[venue]]
        genre = GENRE_ORDER[genre_of(rng)]
        days = rng.randint(-365, 182)
        day = today + timedelta(days=days)
        payment_type = rng.choices(payments, cum_weights=payment_weights)[0]
        capacity = rng.choices(capacities, cum_weights=capacity_weights)[0]
        if payment_type == "flat":
            amount: Decimal | None = _money(rng.lognormvariate(6.0, 0.7), 25)
        elif payment_type == "hourly":
            amount = _money(rng.lognormvariate(4.6, 0.4), 5)
        else:
            amount = _money(rng.lognormvariate(6.0, 0.7), 25) if rng.random() < 0.2 else None
        posted = midnight + timedelta(days=days) - timedelta(seconds=rng.randrange(3, 60) * 86_400)
        posted = min(posted, now - timedelta(seconds=rng.randrange(60, 30 * 86_400)))
        status, filled, completed_at, cancelled_at = _gig_state(
            rng,
            days=days,
            day_start=midnight + timedelta(days=days),
            capacity=capacity,
            can_book=can_book,
            posted=posted,
            now=now,
        )
        if rng.random() < 0.85:
            start_hour = rng.randint(34, 44)  # 17:00 to 22:00 in half hours
            start: clock | None = clock(start_hour // 2, 30 * (start_hour % 2))
            end: clock | None = clock(
                min(start_hour // 2 + rng.randint(1, 3), 23), 30 * (start_hour % 2)
            )
        else:
            start = end = None
        gig_id = _new_id(ids)
        weekday = _DAYS[day.weekday()]
        label = genre.replace("_", " ").title()
        gigs.add(
            (gig_id, people.venue_user_ids[venue], f"{weekday} {label} {rng.choice(_NIGHTS)}",
             f"{label} at {people.venue_names[venue]}. Backline provided; bring your own mics.",
             people.venue_names[venue], city, state,
             f"{rng.randint(1, 2999)} {rng.choice(_STREETS)}", f"{rng.randint(10000, 99999)}",
             day, start, end, genre, amount, payment_type, capacity, filled,
             # D-010, as the hourly job leaves it
             status == "open" and 0 <= days <= URGENCY_DAYS and filled * 2 < capacity,
             status, rng.randrange(SHUFFLE_KEYS), rng.randrange(SHUFFLE_KEYS), posted,
             completed_at or cancelled_at or posted, completed_at, cancelled_at)
        )  # fmt: skip
        if filled:
            earned = amount if status == "completed" and payment_type == "flat" else None
            span = max(int((min(now, midnight + timedelta(days=days)) - posted).total_seconds()), 2)
            for artist in rng.sample(range(len(people.artist_ids)), filled):
                applied = posted + timedelta(seconds=rng.randrange(span // 2 + 1))
                answered = applied + timedelta(seconds=rng.randrange(1, span // 2 + 1))
                bookings.add(
                    (_new_id(ids), gig_id, people.artist_ids[artist], "accepted",
                     "Would love to play this one: my set fits the room.", applied, answered,
                     answered, earned, completed_at or answered)
                )  # fmt: skip
        if len(gigs.buffer) >= BATCH_ROWS or len(bookings.buffer) >= BATCH_ROWS:
            await bookings.flush()
    await phase.finish()
    # A completed gig counts once per booked artist, with its pay (D-080), as completion does.
    await _step(
        report,
        connection,
        "artists (totals)",
        """
        UPDATE artists ar SET total_gigs = t.gigs, total_earnings = t.earned
        FROM (
            SELECT a.artist_id, count(*) AS gigs, coalesce(sum(a.earned_amount), 0) AS earned
            FROM gig_applications a JOIN gigs g ON g.id = a.gig_id
            WHERE g.status = 'completed' AND a.status = 'accepted'
              AND g.venue_id = ANY($1::uuid[])
            GROUP BY a.artist_id
        ) t
        WHERE ar.id = t.artist_id
        """,
        people.venue_user_ids,
    )


def _gig_state(
    rng: random.Random,
    *,
    days: int,
    day_start: datetime,
    capacity: int,
    can_book: bool,
    posted: datetime,
    now: datetime,
) -> tuple[str, int, datetime | None, datetime | None]:
    """(status, filled slots, completed_at, cancelled_at) within the table's CHECKs."""
    roll = rng.random()
    if days >= 0:  # to come: mostly open, some filled, a few cancelled
        if roll < 0.04:
            return "cancelled", 0, None, posted + (now - posted) * rng.random()
        if can_book and roll < 0.12:
            return "filled", capacity, None, None
        partly = can_book and capacity > 1 and rng.random() < 0.25
        return "open", rng.randint(1, capacity - 1) if partly else 0, None, None
    if roll < 0.12:
        return "cancelled", 0, None, posted + (day_start - posted) * rng.random()
    if can_book and roll < 0.72:  # the venue marks it done the morning after
        done = min(now, day_start + timedelta(days=1, hours=10))
        return "completed", rng.randint(1, capacity), done, None
    return "open", 0, None, None  # never booked: it simply expired


async def _conversations(
    connection: asyncpg.Connection,
    report: DatasetReport,
    size: DatasetSize,
    people: _People,
    rng: random.Random,
    ids: random.Random,
    now: datetime,
) -> None:
    conversations = _Sink(
        connection,
        "conversations",
        ("id", "participant_1_id", "participant_2_id", "last_message_at", "last_message_preview",
         "unread_count_1", "unread_count_2", "created_at", "updated_at", "last_activity_at",
         "last_message_by", "last_read_at_1", "last_read_at_2", "notified_at_1",
         "notified_at_2"),
    )  # fmt: skip
    # The new conversations, for the set-based inbox versions below.
    await connection.execute("CREATE TEMP TABLE bench_conversation (id uuid) ON COMMIT DROP")
    marks = _Sink(connection, "bench_conversation", ("id",))
    messages = _Sink(
        connection,
        "messages",
        ("id", "conversation_id", "sender_id", "content", "read_at", "created_at"),
        parent=conversations,
    )
    phase = _Phase(report, (conversations, messages))
    artist_of = _Zipf(len(people.artist_user_ids), 0.3)
    venue_of = _Zipf(len(people.venue_user_ids), 0.8) if people.venue_user_ids else None
    pairs: set[tuple[uuid.UUID, uuid.UUID]] = set()
    now_us = int(now.timestamp() * 1_000_000)
    for count in _message_counts(rng, size.messages, size.conversations):
        while True:
            initiator = people.artist_user_ids[artist_of(rng)]
            if venue_of is not None and (len(people.artist_user_ids) < 2 or rng.random() < 0.6):
                other = people.venue_user_ids[venue_of(rng)]
            else:
                other = people.artist_user_ids[artist_of(rng)]
            low, high = sorted((initiator, other))
            if low != high and (low, high) not in pairs:
                pairs.add((low, high))
                break
        conversation_id = _new_id(ids)
        rows, row = _history(
            rng, ids, conversation_id, (low, high), 1 if initiator == low else 2, count, now_us
        )
        conversations.add(row)
        marks.add((conversation_id,))
        for message in rows:
            messages.add(message)
        if len(messages.buffer) >= BATCH_ROWS or len(conversations.buffer) >= BATCH_ROWS:
            await messages.flush()
            await marks.flush()
    await marks.flush()
    await phase.finish()
    await _inbox_versions(connection, report)


def _message_counts(rng: random.Random, messages: int, conversations: int) -> list[int]:
    """Messages per conversation, summing to `messages`: a few long threads, most short."""
    long_threads = min(conversations, max(1, conversations // 1_000)) if messages >= 5_000 else 0
    long_total = min(messages // 5, long_threads * 5_000)
    counts = [0] * conversations
    if long_threads:
        for index in range(long_threads):
            counts[index] = long_total // long_threads
        counts[0] += long_total - sum(counts)
    rest, short = messages - sum(counts), conversations - long_threads
    if short:
        weights = [rng.expovariate(1.0) ** 1.5 for _ in range(short)]
        scale = rest / sum(weights)
        shares = [int(w * scale) for w in weights]
        for index in (
            rng.sample(range(short), rest - sum(shares)) if rest - sum(shares) <= short else []
        ):
            shares[index] += 1
        shares[0] += rest - sum(shares)  # whatever rounding left
        counts[long_threads:] = shares
    elif rest:
        counts[0] += rest
    rng.shuffle(counts)
    return counts


def _history(
    rng: random.Random,
    ids: random.Random,
    conversation_id: uuid.UUID,
    users: tuple[uuid.UUID, uuid.UUID],
    first_side: int,
    count: int,
    now_us: int,
) -> tuple[list[tuple[Any, ...]], tuple[Any, ...]]:
    """One conversation's messages and its row, as messaging.messages would have left them.

    Times are whole microseconds since the epoch. Replying opens the thread, which marks the
    other side's messages read just before; the email throttle (15 minutes, and none until
    the last email was read) is replayed message by message.
    """
    long = count >= LONG_CONVERSATION
    if long:  # started months ago, still going: the active threads a benchmark hits
        created = now_us - rng.randint(200, 365) * DAY_US
        end = now_us - rng.randrange(10 * MINUTE_US)
    else:
        created = now_us - rng.randrange(365 * DAY_US)
        end = min(now_us - MINUTE_US, created + rng.randrange(MINUTE_US, 30 * DAY_US))
    end = max(end, created + 2 * count + 2)
    times: list[int] = []
    if count:
        steps = list(itertools.accumulate(rng.expovariate(1.0) for _ in range(count)))
        scale = (end - created) / steps[-1]
        previous = created
        for step in steps:
            # at least 2 µs apart: a read fits between two messages
            previous = max(created + int(step * scale), previous + 2)
            times.append(previous)
    senders = (0, users[0], users[1])
    unread: list[list[int]] = [[], [], []]  # by side: indices of messages not read yet
    last_read: list[int | None] = [None, None, None]
    notified: list[int | None] = [None, None, None]
    read_at: list[int | None] = [None] * count
    side = first_side
    contents: list[str] = []
    sides: list[int] = []
    updated = created
    throttle = int(NOTIFY_EVERY.total_seconds() * 1_000_000)
    for index, at in enumerate(times):
        if index:
            side = side if rng.random() < 0.3 else 3 - side
        sides.append(side)
        if unread[side]:
            gap = at - times[index - 1]
            seen = at - max(1, min(gap // 2, rng.randrange(1_000_000, 300_000_000)))
            for mine in unread[side]:
                read_at[mine] = seen
            unread[side] = []
            last_read[side] = seen
        other = 3 - side
        unread[other].append(index)
        due = notified[other]
        last = last_read[other]
        if due is None or (due <= at - throttle and last is not None and last >= due):
            notified[other] = at
        contents.append(_content(rng))
        updated = at
    if count:
        # The last messages: read later on, unless the thread is active or the reader away.
        reader = 3 - side
        if unread[reader] and rng.random() < (0.3 if long else 0.75):
            seen = min(now_us - 1, times[-1] + rng.randrange(MINUTE_US, 2 * DAY_US))
            if seen > times[-1]:
                for mine in unread[reader]:
                    read_at[mine] = seen
                unread[reader] = []
                last_read[reader] = seen
                updated = seen
    rows: list[tuple[Any, ...]] = []
    for index, at in enumerate(times):
        seen_at = read_at[index]
        rows.append(
            (_new_id(ids), conversation_id, senders[sides[index]], contents[index],
             None if seen_at is None else _ts(seen_at), _ts(at))
        )  # fmt: skip
    last_at = _ts(times[-1]) if times else None
    row = (
        conversation_id, users[0], users[1], last_at,
        _preview(contents[-1]) if contents else None,
        len(unread[1]), len(unread[2]), _ts(created), _ts(updated), last_at or _ts(created),
        side if count else None,
        _maybe_ts(last_read[1]), _maybe_ts(last_read[2]),
        _maybe_ts(notified[1]), _maybe_ts(notified[2]),
    )  # fmt: skip
    return rows, row


def _ts(microseconds: int) -> datetime:
    return _EPOCH + timedelta(microseconds=microseconds)


def _maybe_ts(microseconds: int | None) -> datetime | None:
    return None if microseconds is None else _ts(microseconds)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def _inbox_versions(connection: asyncpg.Connection, report: DatasetReport) -> None:
    """Every creation, message and read bumped both participants' inbox versions in order;
    replay that set-based: a user's version is their count of events so far."""
    await _step(
        report,
        connection,
        "inbox events",
        """
        CREATE TEMP TABLE bench_inbox_event ON COMMIT DROP AS
        SELECT p.user_id, e.conversation_id, p.side, e.at,
               row_number() OVER (PARTITION BY p.user_id ORDER BY e.at, e.conversation_id)
                   AS version
        FROM (
            SELECT c.id AS conversation_id, c.created_at AS at
            FROM bench_conversation b JOIN conversations c ON c.id = b.id
            UNION ALL
            SELECT m.conversation_id, m.created_at
            FROM bench_conversation b JOIN messages m ON m.conversation_id = b.id
            UNION ALL
            -- one read marks all the messages it covers with the same time
            SELECT DISTINCT m.conversation_id, m.read_at
            FROM bench_conversation b JOIN messages m ON m.conversation_id = b.id
            WHERE m.read_at IS NOT NULL
        ) e
        JOIN conversations c ON c.id = e.conversation_id
        CROSS JOIN LATERAL (VALUES (c.participant_1_id, 1), (c.participant_2_id, 2))
            AS p (user_id, side)
        """,
    )
    await _step(
        report,
        connection,
        "conversations (versions)",
        """
        UPDATE conversations c SET version_1 = v.version_1, version_2 = v.version_2
        FROM (
            SELECT conversation_id,
                   max(version) FILTER (WHERE side = 1) AS version_1,
                   max(version) FILTER (WHERE side = 2) AS version_2
            FROM bench_inbox_event GROUP BY conversation_id
        ) v
        WHERE c.id = v.conversation_id
        """,
    )
    await _step(
        report,
        connection,
        "inbox_versions",
        """
        INSERT INTO inbox_versions (user_id, version, updated_at)
        SELECT user_id, max(version), max(at) FROM bench_inbox_event GROUP BY user_id
        """,
    )


async def _fans(
    connection: asyncpg.Connection,
    report: DatasetReport,
    size: DatasetSize,
    people: _People,
    ids: random.Random,
    now: datetime,
) -> None:
    """The most followed artist's contact list: `fans` members who opted in to email."""
    lists = _Sink(
        connection,
        "contact_lists",
        ("id", "artist_id", "name", "description", "created_at", "updated_at"),
    )
    members = _Sink(
        connection,
        "contact_list_members",
        ("id", "list_id", "email", "name", "email_opt_in", "city", "email_consent_at",
         "consent_source", "created_at", "updated_at"),
        parent=lists,
    )  # fmt: skip
    phase = _Phase(report, (lists, members))
    list_id = _new_id(ids)
    joined = now - timedelta(days=90)
    lists.add(
        (list_id, people.artist_ids[people.most_followed], "Bench fans",
         "Imported for the broadcast benchmark.", joined, joined)
    )  # fmt: skip
    for index in range(size.fans):
        city = CITIES[index % len(CITIES)][0]
        at = joined + timedelta(seconds=index)
        if members.add(
            (_new_id(ids), list_id, f"fan-{index}@{FAN_DOMAIN}", f"Fan {index}", True, city,
             at, "import", at, at)
        ):  # fmt: skip
            await members.flush()
    await phase.finish()
