"""What the benchmark aims at: rows of the dataset, so every request finds something.

Read from whatever the database holds (a dataset of `umbrella seed --artists …`, the demo
seed, or both): the most followed artists, the busiest venues and city/genre pairs, idle and
long conversations, the biggest fan lists.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class GigFilter:
    """A city/genre combination with open gigs to come (the most common first)."""

    city: str
    state: str
    genre: str
    open_gigs: int


@dataclass(frozen=True)
class ConversationTarget:
    id: uuid.UUID
    participant_1_id: uuid.UUID
    participant_2_id: uuid.UUID
    last_activity_at: datetime


@dataclass(frozen=True)
class Targets:
    """What a benchmark aims at: existing rows, so every request finds something."""

    artist_ids: tuple[uuid.UUID, ...]  # the most followed first, then an even spread
    artist_user_ids: tuple[uuid.UUID, ...]  # the same artists' users, in the same order
    venue_user_ids: tuple[uuid.UUID, ...]  # the venues that posted the most gigs
    gig_filters: tuple[GigFilter, ...]
    idle_conversations: tuple[ConversationTarget, ...]  # no activity for a week
    long_conversations: tuple[ConversationTarget, ...]  # the most messages
    fan_list_ids: tuple[uuid.UUID, ...]  # the biggest contact lists


async def sample_targets(connection: asyncpg.Connection, *, limit: int) -> Targets:
    """Up to `limit` of each kind of target, read from whatever the database holds."""
    artists = await connection.fetch(
        """
        (SELECT id, user_id FROM artists ORDER BY follower_count DESC, id LIMIT $2)
        UNION
        (SELECT id, user_id FROM artists ORDER BY id LIMIT $1)
        LIMIT $1
        """,
        limit,
        max(1, limit // 2),
    )
    venues = await connection.fetch(
        "SELECT venue_id FROM gigs GROUP BY venue_id ORDER BY count(*) DESC, venue_id LIMIT $1",
        limit,
    )
    filters = await connection.fetch(
        """
        SELECT city, state, genre, count(*) AS open_gigs FROM gigs
        WHERE status = 'open' AND date >= (now() AT TIME ZONE 'UTC')::date AND genre IS NOT NULL
        GROUP BY city, state, genre ORDER BY open_gigs DESC, city, genre LIMIT $1
        """,
        limit,
    )
    columns = "c.id, c.participant_1_id, c.participant_2_id, c.last_activity_at"
    idle = await connection.fetch(
        f"SELECT {columns} FROM conversations c"
        " WHERE c.last_activity_at < now() - interval '7 days' ORDER BY c.id LIMIT $1",
        limit,
    )
    long = await connection.fetch(
        f"SELECT {columns} FROM (SELECT conversation_id, count(*) AS messages FROM messages"
        " GROUP BY conversation_id ORDER BY messages DESC LIMIT $1) t"
        " JOIN conversations c ON c.id = t.conversation_id ORDER BY t.messages DESC",
        limit,
    )
    fan_lists = await connection.fetch(
        "SELECT list_id FROM contact_list_members GROUP BY list_id ORDER BY count(*) DESC LIMIT $1",
        limit,
    )
    return Targets(
        artist_ids=tuple(row["id"] for row in artists),
        artist_user_ids=tuple(row["user_id"] for row in artists),
        venue_user_ids=tuple(row["venue_id"] for row in venues),
        gig_filters=tuple(GigFilter(**dict(row)) for row in filters),
        idle_conversations=tuple(_conversation_target(row) for row in idle),
        long_conversations=tuple(_conversation_target(row) for row in long),
        fan_list_ids=tuple(row["list_id"] for row in fan_lists),
    )


def _conversation_target(row: asyncpg.Record) -> ConversationTarget:
    return ConversationTarget(
        id=row["id"],
        participant_1_id=row["participant_1_id"],
        participant_2_id=row["participant_2_id"],
        last_activity_at=row["last_activity_at"],
    )
