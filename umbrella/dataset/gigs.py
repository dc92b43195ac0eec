"""The dataset's gigs from a year ago to six months ahead, with their accepted bookings.

Future gigs are mostly open, past ones completed, cancelled or left open; shuffle keys and
urgency flags are dealt as the app deals them (D-014, D-010), and the booked artists'
totals are what completion would have counted.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from decimal import Decimal

import asyncpg

from umbrella.dataset.draw import (
    CAPACITY_WEIGHTS,
    CITIES,
    GENRE_ORDER,
    NIGHTS,
    PAYMENT_WEIGHTS,
    STREETS,
    WEEKDAYS,
    Zipf,
    money,
    new_id,
    weighted,
)
from umbrella.dataset.people import People
from umbrella.dataset.sinks import BATCH_ROWS, DatasetReport, Phase, Sink, timed_statement
from umbrella.dataset.size import DatasetSize

SHUFFLE_KEYS = 2_147_483_647  # as umbrella.gigs.service deals them
URGENCY_DAYS = 7  # D-010


async def write_gigs(
    connection: asyncpg.Connection,
    report: DatasetReport,
    size: DatasetSize,
    people: People,
    rng: random.Random,
    ids: random.Random,
    now: datetime,
) -> None:
    """The gigs of the dataset's venues, their accepted bookings, and the artists' totals."""
    gigs = Sink(
        connection,
        "gigs",
        ("id", "venue_id", "title", "description", "venue_name", "city", "state", "address",
         "zip", "date", "start_time", "end_time", "genre", "payment_amount", "payment_type",
         "capacity", "filled_slots", "urgency_flag", "status", "shuffle_key",
         "previous_shuffle_key", "created_at", "updated_at", "completed_at", "cancelled_at"),
    )  # fmt: skip
    bookings = Sink(
        connection,
        "gig_applications",
        ("id", "gig_id", "artist_id", "status", "message", "applied_at", "viewed_at",
         "responded_at", "earned_amount", "updated_at"),
        parent=gigs,
    )  # fmt: skip
    phase = Phase(report, (gigs, bookings))
    today = now.date()
    venue_of = Zipf(len(people.venue_user_ids), 0.8)  # a few venues post most gigs
    genre_of = Zipf(len(GENRE_ORDER), 0.9)
    payments, payment_weights = weighted(PAYMENT_WEIGHTS)
    capacities, capacity_weights = weighted(CAPACITY_WEIGHTS)
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
            amount: Decimal | None = money(rng.lognormvariate(6.0, 0.7), 25)
        elif payment_type == "hourly":
            amount = money(rng.lognormvariate(4.6, 0.4), 5)
        else:
            amount = money(rng.lognormvariate(6.0, 0.7), 25) if rng.random() < 0.2 else None
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
        gig_id = new_id(ids)
        weekday = WEEKDAYS[day.weekday()]
        label = genre.replace("_", " ").title()
        gigs.add(
            (gig_id, people.venue_user_ids[venue], f"{weekday} {label} {rng.choice(NIGHTS)}",
             f"{label} at {people.venue_names[venue]}. Backline provided; bring your own mics.",
             people.venue_names[venue], city, state,
             f"{rng.randint(1, 2999)} {rng.choice(STREETS)}", f"{rng.randint(10000, 99999)}",
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
                    (new_id(ids), gig_id, people.artist_ids[artist], "accepted",
                     "Would love to play this one: my set fits the room.", applied, answered,
                     answered, earned, completed_at or answered)
                )  # fmt: skip
        if len(gigs.buffer) >= BATCH_ROWS or len(bookings.buffer) >= BATCH_ROWS:
            await bookings.flush()
    await phase.finish()
    # A completed gig counts once per booked artist, with its pay (D-080), as completion does.
    await timed_statement(
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
