"""Conditions number their values as they come; Pager pages a keyset list through real SQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest

from umbrella.config import Settings
from umbrella.core.errors import ValidationFailed
from umbrella.core.pagination import BY_NAME, NEWEST_FIRST, Keyset, Pager
from umbrella.core.sql import Conditions


def test_values_are_numbered_in_the_order_they_are_bound() -> None:
    where = Conditions()
    owner = where.param("owner")
    where.add("f.category = {}", "demo")
    where.add("f.folder_id IS NULL")
    where.add("(f.created_at, f.id) < ({}, {})", "at", "id")
    limit = where.param(21)

    assert owner == "$1"
    assert (
        where.sql == "f.category = $2 AND f.folder_id IS NULL AND (f.created_at, f.id) < ($3, $4)"
    )
    assert limit == "$5"
    assert where.values == ["owner", "demo", "at", "id", 21]


def test_conditions_after_other_values_start_their_numbers_there() -> None:
    where = Conditions(first=3)
    where.add("a.verified = {}", True)
    assert where.sql == "a.verified = $3"
    assert where.param(10) == "$4"


def test_no_condition_is_true_and_a_miscounted_one_is_refused() -> None:
    assert Conditions().sql == "true"
    with pytest.raises(ValueError, match="1 values"):
        Conditions().add("a = {} AND b = {}", 1)


@pytest.fixture
async def things(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(settings.database_url)
    await connection.execute(
        "CREATE TEMP TABLE things (id uuid PRIMARY KEY, name text, created_at timestamptz)"
    )
    try:
        yield connection
    finally:
        await connection.close()


async def test_pages_walk_every_row_once_in_order_across_ties(
    things: asyncpg.Connection, settings: Settings
) -> None:
    # Five rows share one created_at: only the id tells them apart, as the keyset must.
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [(uuid4(), f"thing {n % 4}", start + timedelta(minutes=n // 5)) for n in range(12)]
    await things.executemany("INSERT INTO things VALUES ($1, $2, $3)", rows)

    async def walk(kind: str, keyset: Keyset) -> list[UUID]:
        seen: list[UUID] = []
        cursor = None
        while True:
            pager = Pager(settings, kind, cursor=cursor, limit=5, keyset=keyset)
            where = Conditions()
            pager.narrow(where, alias="t")
            records = await things.fetch(
                f"SELECT * FROM things t WHERE {where.sql}"
                f" ORDER BY {pager.order_by('t')} LIMIT {where.param(pager.fetch)}",
                *where.values,
            )
            page = pager.page([dict(record) for record in records], lambda row: row["id"])
            assert len(page.items) <= 5
            seen.extend(page.items)
            if page.next_cursor is None:
                return seen
            cursor = page.next_cursor

    newest = sorted(rows, key=lambda row: (row[2], row[0]), reverse=True)
    assert await walk("things", NEWEST_FIRST) == [row[0] for row in newest]
    by_name = sorted(rows, key=lambda row: (row[1], row[0]))
    assert await walk("things-by-name", BY_NAME) == [row[0] for row in by_name]


def test_a_cursor_of_another_list_is_refused(settings: Settings) -> None:
    first = Pager(settings, "files", cursor=None, limit=1)
    cursor = first.cursors.encode({"at": datetime.now(UTC).isoformat(), "id": str(uuid4())})
    assert Pager(settings, "files", cursor=cursor, limit=1).position is not None
    with pytest.raises(ValidationFailed) as refused:
        Pager(settings, "folders", cursor=cursor, limit=1)
    assert refused.value.field == "cursor"
