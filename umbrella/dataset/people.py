"""The dataset's people: artist and venue users, artist profiles, quotas, followers, fans.

Followers follow a power law (most artists have none, a few have thousands), which also
decides who is verified; the most followed artist gets the `--fans` contact list.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from umbrella.dataset.draw import (
    CITIES,
    GENRE_ORDER,
    PERFORMANCE_TYPES,
    Zipf,
    money,
    new_id,
    stage_name,
    venue_name,
)
from umbrella.dataset.sinks import BATCH_ROWS, DatasetReport, Phase, Sink
from umbrella.dataset.size import DatasetSize

EMAIL_DOMAIN = "bench.umbrella.test"
FAN_DOMAIN = "fans.bench.umbrella.test"


@dataclass
class People:
    """What later steps need to know of the users written, one entry per index."""

    artist_user_ids: list[uuid.UUID]
    artist_ids: list[uuid.UUID]
    venue_user_ids: list[uuid.UUID]
    venue_names: list[str]
    venue_cities: list[int]
    most_followed: int  # artist index


async def write_people(
    connection: asyncpg.Connection,
    report: DatasetReport,
    size: DatasetSize,
    rng: random.Random,
    ids: random.Random,
    now: datetime,
    run: int,
) -> People:
    """Artist and venue users, the artists' profiles and quotas, and their followers."""
    users = Sink(
        connection,
        "users",
        ("id", "oauth_provider", "oauth_id", "email", "display_name", "role",
         "onboarding_complete", "onboarding_step", "created_at", "updated_at",
         "last_login_at", "role_chosen_at"),
    )  # fmt: skip
    artists = Sink(
        connection,
        "artists",
        ("id", "user_id", "stage_name", "city", "state", "country", "bio", "tagline",
         "primary_genre", "secondary_genres", "performance_types", "flat_rate", "hourly_rate",
         "rates_negotiable", "travel_radius_miles", "available_weekdays", "available_weekends",
         "advance_booking_weeks", "years_performing", "verified", "profile_views",
         "follower_count", "created_at", "updated_at"),
        parent=users,
    )  # fmt: skip
    phase = Phase(report, (users, artists))
    city_of = Zipf(len(CITIES), 1.07)
    genre_of = Zipf(len(GENRE_ORDER), 0.9)
    # Followers first: the power law decides who is popular (and so more likely verified).
    followers = [_follower_count(rng, size.artists + size.venues) for _ in range(size.artists)]
    people = People(
        [], [], [], [], [], max(range(size.artists), key=followers.__getitem__, default=0)
    )

    def user(user_id: uuid.UUID, email: str, name: str, role: str, joined: datetime) -> None:
        seen = now - timedelta(seconds=rng.randrange(30 * 86_400))
        users.add((user_id, "google", f"bench-{user_id}", email, name, role, True, 5, joined,
                   joined, seen, joined))  # fmt: skip

    for index in range(size.artists):
        user_id, artist_id = new_id(ids), new_id(ids)
        name = stage_name(rng)
        city, state = CITIES[city_of(rng)]
        primary = GENRE_ORDER[genre_of(rng)]
        secondary = sorted({GENRE_ORDER[genre_of(rng)] for _ in range(rng.choice((0, 1, 2, 2)))})
        secondary = [genre for genre in secondary if genre != primary]
        joined = now - timedelta(seconds=rng.randrange(86_400, 730 * 86_400))
        flat = money(rng.lognormvariate(6.2, 0.6), 25)
        count = followers[index]
        user(user_id, f"bench-artist-{run + index}@{EMAIL_DOMAIN}", name, "artist", joined)
        artists.add(
            (artist_id, user_id, name, city, state, "US",
             f"{name} plays {primary.replace('_', ' ')} across {state}.",
             f"{primary.replace('_', ' ').title()} from {city}",
             primary, secondary, rng.sample(PERFORMANCE_TYPES, rng.randint(1, 2)),
             flat, money(float(flat) / 4, 5), rng.random() < 0.5,
             rng.choice((10, 25, 50, 100, 250)), rng.random() < 0.6, rng.random() < 0.9,
             rng.randint(1, 8), rng.randint(0, 30), count >= 200 or rng.random() < 0.03,
             count * 20 + rng.randrange(500), count, joined, joined)
        )  # fmt: skip
        people.artist_user_ids.append(user_id)
        people.artist_ids.append(artist_id)
        if len(artists.buffer) >= BATCH_ROWS:
            await artists.flush()
    for index in range(size.venues):
        user_id = new_id(ids)
        name = venue_name(rng)
        city_index = city_of(rng)
        joined = now - timedelta(seconds=rng.randrange(86_400, 730 * 86_400))
        user(user_id, f"bench-venue-{run + index}@{EMAIL_DOMAIN}", name, "venue", joined)
        people.venue_user_ids.append(user_id)
        people.venue_names.append(name)
        people.venue_cities.append(city_index)
        if len(users.buffer) >= BATCH_ROWS:
            await users.flush()
    await phase.finish()

    quotas = Sink(connection, "storage_quotas", ("artist_id", "updated_at"))
    phase = Phase(report, (quotas,))
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
    people: People,
    followers: list[int],
    rng: random.Random,
    ids: random.Random,
    now: datetime,
) -> None:
    sink = Sink(
        connection, "artist_followers", ("id", "artist_id", "follower_user_id", "created_at")
    )
    phase = Phase(report, (sink,))
    everyone = people.artist_user_ids + people.venue_user_ids
    for index, count in enumerate(followers):
        if not count:
            continue
        artist_id = people.artist_ids[index]
        # Anyone but the artist: draw among n - 1 and step over their own index.
        for other in rng.sample(range(len(everyone) - 1), count):
            follower = everyone[other + 1 if other >= index else other]
            at = now - timedelta(seconds=rng.randrange(365 * 86_400))
            if sink.add((new_id(ids), artist_id, follower, at)):
                await sink.flush()
    await phase.finish()


async def write_fans(
    connection: asyncpg.Connection,
    report: DatasetReport,
    size: DatasetSize,
    people: People,
    ids: random.Random,
    now: datetime,
) -> None:
    """The most followed artist's contact list: `fans` members who opted in to email."""
    lists = Sink(
        connection,
        "contact_lists",
        ("id", "artist_id", "name", "description", "created_at", "updated_at"),
    )
    members = Sink(
        connection,
        "contact_list_members",
        ("id", "list_id", "email", "name", "email_opt_in", "city", "email_consent_at",
         "consent_source", "created_at", "updated_at"),
        parent=lists,
    )  # fmt: skip
    phase = Phase(report, (lists, members))
    list_id = new_id(ids)
    joined = now - timedelta(days=90)
    lists.add(
        (list_id, people.artist_ids[people.most_followed], "Bench fans",
         "Imported for the broadcast benchmark.", joined, joined)
    )  # fmt: skip
    for index in range(size.fans):
        city = CITIES[index % len(CITIES)][0]
        at = joined + timedelta(seconds=index)
        if members.add(
            (new_id(ids), list_id, f"fan-{index}@{FAN_DOMAIN}", f"Fan {index}", True, city,
             at, "import", at, at)
        ):  # fmt: skip
            await members.flush()
    await phase.finish()
