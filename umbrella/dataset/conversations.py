"""The dataset's conversations and messages, with every column messaging would have written.

Most threads are short, a few hold thousands of messages; messages are read when their
recipient replies, and the last message, unread counts, reads, email throttle and inbox
versions are replayed from that history.
"""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from umbrella.dataset.draw import Zipf, message_text, new_id, preview
from umbrella.dataset.people import People
from umbrella.dataset.sinks import BATCH_ROWS, DatasetReport, Phase, Sink, timed_statement
from umbrella.dataset.size import DatasetSize
from umbrella.messaging.messages import NOTIFY_EVERY

LONG_CONVERSATION = 1_000  # messages from which a conversation counts as long
DAY_US = 86_400_000_000
MINUTE_US = 60_000_000


async def write_conversations(
    connection: asyncpg.Connection,
    report: DatasetReport,
    size: DatasetSize,
    people: People,
    rng: random.Random,
    ids: random.Random,
    now: datetime,
) -> None:
    """Conversations between the dataset's users, their messages, and the inbox versions."""
    conversations = Sink(
        connection,
        "conversations",
        ("id", "participant_1_id", "participant_2_id", "last_message_at", "last_message_preview",
         "unread_count_1", "unread_count_2", "created_at", "updated_at", "last_activity_at",
         "last_message_by", "last_read_at_1", "last_read_at_2", "notified_at_1",
         "notified_at_2"),
    )  # fmt: skip
    # The new conversations, for the set-based inbox versions below.
    await connection.execute("CREATE TEMP TABLE bench_conversation (id uuid) ON COMMIT DROP")
    marks = Sink(connection, "bench_conversation", ("id",))
    messages = Sink(
        connection,
        "messages",
        ("id", "conversation_id", "sender_id", "content", "read_at", "created_at"),
        parent=conversations,
    )
    phase = Phase(report, (conversations, messages))
    artist_of = Zipf(len(people.artist_user_ids), 0.3)
    venue_of = Zipf(len(people.venue_user_ids), 0.8) if people.venue_user_ids else None
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
        conversation_id = new_id(ids)
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
        contents.append(message_text(rng))
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
            (new_id(ids), conversation_id, senders[sides[index]], contents[index],
             None if seen_at is None else _ts(seen_at), _ts(at))
        )  # fmt: skip
    last_at = _ts(times[-1]) if times else None
    row = (
        conversation_id, users[0], users[1], last_at,
        preview(contents[-1]) if contents else None,
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
    await timed_statement(
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
    await timed_statement(
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
    await timed_statement(
        report,
        connection,
        "inbox_versions",
        """
        INSERT INTO inbox_versions (user_id, version, updated_at)
        SELECT user_id, max(version), max(at) FROM bench_inbox_event GROUP BY user_id
        """,
    )
