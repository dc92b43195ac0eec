"""A month of activity for a few artists, written with SQL, and its figures computed by hand.

The month is the 30 UTC days before today, so the monthly chart covers exactly it. Every
event is listed here once: the seed writes it and `expected` counts it, so the test
compares the batch with arithmetic, not with a second copy of its SQL.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from tests.factories import make_artist, make_user
from umbrella.accounts.tables import User
from umbrella.analytics import service

DAYS = 30


async def sql(query: str, *args: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await User.raw(query, *args)
    return rows


async def insert(table: str, **values: Any) -> None:
    columns = ", ".join(values)
    placeholders = ", ".join("{}" for _ in values)
    await sql(f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", *values.values())


def at(day: date, hour: int = 12, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second, micro), tzinfo=UTC)


@dataclass
class Booking:
    artist_id: UUID
    earned: Decimal | None


@dataclass
class CompletedGig:
    completed_at: datetime
    bookings: list[Booking]
    title: str = "Friday Night Live"
    venue_name: str = "The Anchor"


@dataclass
class Month:
    days: list[date]
    venue_id: UUID
    luna: tuple[UUID, UUID]  # (user id, artist id)
    kai: tuple[UUID, UUID]
    newcomer: tuple[UUID, UUID]  # joins on the last day
    gigs: list[CompletedGig] = field(default_factory=list)
    follows: list[tuple[UUID, datetime]] = field(default_factory=list)
    reviews: list[tuple[UUID, int, datetime]] = field(default_factory=list)
    views: dict[tuple[UUID, date], int] = field(default_factory=dict)
    plays: dict[tuple[UUID, date], int] = field(default_factory=dict)
    joined: dict[UUID, datetime] = field(default_factory=dict)

    @property
    def artists(self) -> list[UUID]:
        return [self.luna[1], self.kai[1], self.newcomer[1]]

    def expected(self, artist_id: UUID, day: date) -> dict[str, Any] | None:
        """The daily_metrics row of an artist and day, by hand (None: no row that day)."""
        start, end = service.day_bounds(day)
        if self.joined[artist_id] >= end:
            return None
        booked = [
            b
            for gig in self.gigs
            if start <= gig.completed_at < end
            for b in gig.bookings
            if b.artist_id == artist_id
        ]
        ratings = [r for a, r, when in self.reviews if a == artist_id and when < end]
        rating = (
            (Decimal(sum(ratings)) / len(ratings)).quantize(Decimal("0.01"), ROUND_HALF_UP)
            if ratings
            else None
        )
        return {
            "date": day,
            "earnings": sum((b.earned or Decimal(0) for b in booked), Decimal("0.00")),
            "gigs_completed": len(booked),
            "profile_views": self.views.get((artist_id, day), 0),
            "followers": sum(1 for a, when in self.follows if a == artist_id and when < end),
            "avg_rating": rating,
            "track_plays": self.plays.get((artist_id, day), 0),
        }


async def _artist(name: str, joined: datetime, **fields: Any) -> tuple[UUID, UUID]:
    user_id, artist_id = await make_artist(stage_name=name, **fields)
    await sql("UPDATE artists SET created_at = {} WHERE id = {}", joined, artist_id)
    return user_id, artist_id


async def add_gig(month: Month, gig: CompletedGig, *, status: str = "completed") -> UUID:
    gig_id = uuid.uuid4()
    completed = gig.completed_at if status == "completed" else None
    await insert(
        "gigs",
        id=gig_id,
        venue_id=month.venue_id,
        title=gig.title,
        venue_name=gig.venue_name,
        city="Austin",
        state="TX",
        date=gig.completed_at.date(),
        payment_amount=Decimal("100"),
        capacity=max(1, len(gig.bookings)),
        filled_slots=len(gig.bookings),
        status=status,
        completed_at=completed,
    )
    for booking in gig.bookings:
        await insert(
            "gig_applications",
            gig_id=gig_id,
            artist_id=booking.artist_id,
            status="accepted",
            responded_at=gig.completed_at - timedelta(days=3),
            earned_amount=booking.earned,
        )
    return gig_id


async def seed_month() -> Month:
    """Two artists busy all month, one who joins on its last day, and what they did."""
    first = service.today() - timedelta(days=DAYS)
    days = [first + timedelta(days=i) for i in range(DAYS)]
    venue_id = await make_user(role="venue", onboarding_complete=True)
    long_ago = at(first - timedelta(days=10))
    month = Month(
        days=days,
        venue_id=venue_id,
        luna=await _artist("Luna Vega", long_ago),
        kai=await _artist("Kai Moreno", long_ago),
        newcomer=await _artist("New Face", at(days[-1], 15)),
    )
    luna, kai, newcomer = month.luna[1], month.kai[1], month.newcomer[1]
    month.joined = {luna: long_ago, kai: long_ago, newcomer: at(days[-1], 15)}

    for i, day in enumerate(days):
        if i % 3 == 0:
            bookings = [Booking(luna, Decimal(100 + i))]
            if i % 15 == 0:  # a shared bill; Kai never reported his pay (D-080)
                bookings.append(Booking(kai, None))
            month.gigs.append(CompletedGig(at(day, 23), bookings))
        if i % 2 == 0:
            month.follows.append((luna, at(day, 9)))
        month.views[(luna, day)] = i + 1
        if i % 7 == 0:
            month.views[(kai, day)] = 3
        if i:
            month.plays[(luna, day)] = 2 * i
    # The edges of a UTC day: the last microsecond of day 10 and the first of day 11.
    month.gigs.append(CompletedGig(at(days[10], 23, 59, 59, 999999), [Booking(luna, Decimal(7))]))
    month.gigs.append(CompletedGig(at(days[11], 0), [Booking(kai, Decimal("11.50"))]))
    month.gigs.append(CompletedGig(at(days[-1], 18), [Booking(newcomer, Decimal(40))]))
    month.follows.append((kai, at(days[3], 8)))
    month.reviews += [
        (luna, 5, at(days[4])),
        (luna, 4, at(days[9])),
        (luna, 5, at(days[20])),
        (kai, 3, at(days[1])),
    ]

    for gig in month.gigs:
        await add_gig(month, gig)
    # Neither counts: a booked gig not completed, a rejected applicant of a completed one.
    pending_gig = CompletedGig(at(days[5]), [Booking(luna, None)])
    await add_gig(month, pending_gig, status="filled")
    rejected = await add_gig(month, CompletedGig(at(days[6]), []))
    await insert(
        "gig_applications",
        gig_id=rejected,
        artist_id=kai,
        status="rejected",
        responded_at=at(days[5]),
    )
    for artist_id, when in month.follows:
        fan = await make_user(role="artist")
        await insert("artist_followers", artist_id=artist_id, follower_user_id=fan, created_at=when)
    for n, (artist_id, rating, when) in enumerate(month.reviews):
        await insert(
            "reviews",
            artist_id=artist_id,
            reviewer_email=f"fan{n}@example.com",
            rating=rating,
            created_at=when,
        )
    for (artist_id, day), views in month.views.items():
        await insert("profile_view_counts", artist_id=artist_id, date=day, views=views)
    for (artist_id, day), plays in month.plays.items():
        await insert("track_play_counts", artist_id=artist_id, date=day, plays=plays)
    # The running totals, as the services keep them.
    await sql(
        "UPDATE artists a SET follower_count = (SELECT count(*) FROM artist_followers f"
        "  WHERE f.artist_id = a.id),"
        " total_reviews = (SELECT count(*) FROM reviews r WHERE r.artist_id = a.id),"
        " avg_rating = coalesce((SELECT round(avg(rating), 2) FROM reviews r"
        "  WHERE r.artist_id = a.id), 0),"
        " total_gigs = (SELECT count(*) FROM gig_applications ga JOIN gigs g ON g.id = ga.gig_id"
        "  WHERE ga.artist_id = a.id AND ga.status = 'accepted' AND g.status = 'completed'),"
        " total_earnings = (SELECT coalesce(sum(ga.earned_amount), 0) FROM gig_applications ga"
        "  JOIN gigs g ON g.id = ga.gig_id"
        "  WHERE ga.artist_id = a.id AND ga.status = 'accepted' AND g.status = 'completed')"
    )
    return month


METRIC_COLUMNS = "date, earnings, gigs_completed, profile_views, followers, avg_rating, track_plays"


async def rows_of(artist_id: UUID) -> list[dict[str, Any]]:
    return await sql(
        f"SELECT {METRIC_COLUMNS} FROM daily_metrics WHERE artist_id = {{}} ORDER BY date",
        artist_id,
    )


async def all_rows() -> list[dict[str, Any]]:
    return await sql("SELECT * FROM daily_metrics ORDER BY artist_id, date")
