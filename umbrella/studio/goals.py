"""Studio: the artist's goals (SPEC §3.7).

Automatic goals are measured from the artist's running totals by one set-based statement,
`update_goals_reached`, which the daily batch (D-008) runs; custom goals are the artist's
own count. docs/studio.md describes the routes and every error.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from piccolo.columns import Column

from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.errors import NotFound, ValidationFailed
from umbrella.core.pagination import ListPage, Pager
from umbrella.core.sql import Conditions
from umbrella.piccolo_conf import DB
from umbrella.studio.schemas import AUTOMATIC_GOAL_TYPES, WHOLE_GOAL_TYPES, GoalOut
from umbrella.studio.tables import Goal

GOAL_COLUMNS = (
    "g.id, g.title, g.description, g.goal_type, g.target_value, g.current_value,"
    " g.target_date, g.completed, g.completed_at, g.created_at, g.updated_at"
)

# What an automatic goal measures, from the artists row and the portfolio. `tracks` is a
# subquery CASE only evaluates for tracks goals (through the tracks (artist_id) index).
_MEASURED = (
    "CASE g.goal_type"
    " WHEN 'earnings' THEN a.total_earnings"
    " WHEN 'gigs' THEN a.total_gigs"
    " WHEN 'followers' THEN a.follower_count"
    " WHEN 'tracks' THEN (SELECT count(*) FROM tracks t WHERE t.artist_id = a.id)"
    " END::numeric(12,2)"
)


async def _measure_goals(where: Conditions, *, completed_at: datetime) -> int:
    """Set current_value of the automatic goals `where` selects (alias g) from the artist's
    totals, and complete those reached; returns how many were newly completed.

    One statement over every selected goal; completion stays once reached (a follower lost
    the next day does not take an achievement back). Rows already right are not rewritten.
    """
    conditions = where.sql
    at = where.param(completed_at)  # after the conditions' values
    rows = await db.fetch(
        "WITH measured AS ("
        f" SELECT g.id, g.completed AS was_completed, {_MEASURED} AS value"
        " FROM goals g JOIN artists a ON a.id = g.artist_id"
        f" WHERE g.goal_type <> 'custom' AND {conditions}"
        ") UPDATE goals g SET current_value = m.value,"
        " completed = g.completed OR m.value >= g.target_value,"
        " completed_at = CASE WHEN g.completed THEN g.completed_at"
        f"  WHEN m.value >= g.target_value THEN GREATEST(g.created_at, {at}) END,"
        " updated_at = now()"
        " FROM measured m WHERE g.id = m.id"
        " AND (g.current_value <> m.value OR (NOT g.completed AND m.value >= g.target_value))"
        " RETURNING m.was_completed, g.completed",
        *where.values,
    )
    return sum(1 for row in rows if row["completed"] and not row["was_completed"])


async def update_goals_reached(*, on: date) -> int:
    """Measure every automatic goal of every artist and complete the ones reached by `on`.

    Called by the daily batch (D-008) for the UTC day `on`, inside its transaction: one
    set-based statement, idempotent (a re-run changes nothing). A goal reached is completed
    at the end of `on` (midnight UTC after it), never before it was created nor in the
    future. Returns how many goals this run newly completed.
    """
    end_of_day = datetime.combine(on + timedelta(days=1), time(0), tzinfo=UTC)
    return await _measure_goals(Conditions(), completed_at=min(end_of_day, datetime.now(UTC)))


def _progress(current: Decimal, target: Decimal) -> float:
    if target <= 0:  # pragma: no cover - the check constraint keeps targets positive
        return 100.0
    return float(min(Decimal(100), round(100 * current / target, 2)))


def _goal_out(row: dict[str, Any]) -> GoalOut:
    return GoalOut(
        id=row["id"],
        title=row["title"],
        description=row["description"],
        goal_type=row["goal_type"],
        automatic=row["goal_type"] in AUTOMATIC_GOAL_TYPES,
        target_value=row["target_value"],
        current_value=row["current_value"],
        progress_percent=_progress(row["current_value"], row["target_value"]),
        target_date=row["target_date"],
        completed=row["completed"],
        completed_at=row["completed_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _no_such_goal() -> NotFound:
    return NotFound("No such goal.", field="goal_id")


async def _own_goal_row(artist_id: UUID, goal_id: UUID, *, lock: bool = False) -> dict[str, Any]:
    rows = await db.fetch(
        f"SELECT {GOAL_COLUMNS} FROM goals g WHERE g.id = $1 AND g.artist_id = $2"
        + (" FOR UPDATE" if lock else ""),
        goal_id,
        artist_id,
    )
    if not rows:
        raise _no_such_goal()
    row: dict[str, Any] = rows[0]
    return row


def _check_target(goal_type: str, target_value: Decimal) -> None:
    if goal_type in WHOLE_GOAL_TYPES and target_value != target_value.to_integral_value():
        raise ValidationFailed(
            f"A {goal_type} goal counts whole {goal_type}: give a whole number.",
            field="target_value",
        )


def _check_target_date(target_date: date | None) -> None:
    if target_date is not None and target_date < datetime.now(UTC).date():
        raise ValidationFailed("The target date is in the past.", field="target_date")


def _check_current(goal_type: str, current_value: Decimal | None) -> None:
    if current_value is not None and goal_type != "custom":
        raise ValidationFailed(
            f"A {goal_type} goal is measured for you: only custom goals take a current_value.",
            field="current_value",
        )


async def create_goal(
    *,
    caller: Caller,
    title: str,
    description: str | None,
    goal_type: str,
    target_value: Decimal,
    current_value: Decimal | None,
    target_date: date | None,
) -> GoalOut:
    """Set a goal; an automatic one is measured at once, then by every daily batch."""
    artist_id = await caller.require_artist()
    _check_target(goal_type, target_value)
    _check_current(goal_type, current_value)
    _check_target_date(target_date)
    goal_id = uuid.uuid4()
    now = datetime.now(UTC)
    current = current_value or Decimal(0)
    # Custom goals are the artist's own count: complete exactly while it reaches the target.
    reached = goal_type == "custom" and current >= target_value
    async with DB.transaction():
        await Goal.insert(
            Goal(
                id=goal_id,
                artist_id=artist_id,
                title=title,
                description=description,
                goal_type=goal_type,
                target_value=target_value,
                current_value=current,
                target_date=target_date,
                completed=reached,
                completed_at=now if reached else None,
                created_at=now,
                updated_at=now,
            )
        )
        if goal_type != "custom":
            # A first reading now, so a new goal does not show 0 until the next batch.
            where = Conditions()
            where.add("g.id = {}", goal_id)
            await _measure_goals(where, completed_at=now)
    return _goal_out(await _own_goal_row(artist_id, goal_id))


async def list_goals(
    *,
    settings: Settings,
    caller: Caller,
    completed: bool | None,
    cursor: str | None,
    limit: int,
) -> ListPage[GoalOut]:
    """The artist's goals, newest first; all, or only the completed or the open ones."""
    artist_id = await caller.require_artist()
    pager = Pager(settings, "goals", cursor=cursor, limit=limit)
    where = Conditions()
    where.add("g.artist_id = {}", artist_id)
    if completed is not None:
        where.add("g.completed = {}", completed)
    pager.narrow(where, alias="g")
    rows = await db.fetch(
        f"SELECT {GOAL_COLUMNS} FROM goals g WHERE {where.sql}"
        f" ORDER BY {pager.order_by('g')} LIMIT {where.param(pager.fetch)}",
        *where.values,
    )
    return pager.page(rows, _goal_out)


async def update_goal(*, caller: Caller, goal_id: UUID, changes: dict[str, Any]) -> GoalOut:
    """Change a goal's title, description, target, target date or (custom) progress."""
    artist_id = await caller.require_artist()
    if not changes:
        raise ValidationFailed(
            "Send title, description, target_value, current_value and/or target_date.",
            field="body",
        )
    for name in ("title", "target_value", "current_value"):
        if name in changes and changes[name] is None:
            raise ValidationFailed("This field cannot be null.", field=name)
    now = datetime.now(UTC)
    async with DB.transaction():
        row = await _own_goal_row(artist_id, goal_id, lock=True)
        goal_type = row["goal_type"]
        target = changes.get("target_value", row["target_value"])
        current = changes.get("current_value", row["current_value"])
        _check_target(goal_type, target)
        _check_current(goal_type, changes.get("current_value"))
        if "target_date" in changes and changes["target_date"] != row["target_date"]:
            _check_target_date(changes["target_date"])
        values: dict[Column | str, Any] = {Goal.updated_at: now}
        for name in ("title", "description", "target_value", "current_value", "target_date"):
            if name in changes:
                values[Goal._meta.get_column_by_name(name)] = changes[name]
        if goal_type == "custom":
            reached = current >= target
            values[Goal.completed] = reached
            values[Goal.completed_at] = (row["completed_at"] or now) if reached else None
        elif target != row["target_value"]:
            # A new target is a new goal to reach: measured again below, completed if met.
            values[Goal.completed] = False
            values[Goal.completed_at] = None
        await Goal.update(values).where(Goal.id == goal_id)
        if goal_type != "custom" and target != row["target_value"]:
            where = Conditions()
            where.add("g.id = {}", goal_id)
            await _measure_goals(where, completed_at=now)
    return _goal_out(await _own_goal_row(artist_id, goal_id))


async def delete_goal(*, caller: Caller, goal_id: UUID) -> None:
    """Delete one of the artist's goals."""
    artist_id = await caller.require_artist()
    deleted = await db.fetch(
        "DELETE FROM goals WHERE id = $1 AND artist_id = $2 RETURNING id", goal_id, artist_id
    )
    if not deleted:
        raise _no_such_goal()
