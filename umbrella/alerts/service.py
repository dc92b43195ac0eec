"""Gig alerts: an artist's saved browse filters (at most MAX_ALERTS), and their off links.

The filters are gig browse's own (`AlertFilters` → `GigFilters`): the daily digest
(umbrella/alerts/digest.py) matches new gigs with browse's SQL, so an alert finds exactly
what the same filters find on the browse page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from umbrella.alerts.schemas import (
    MAX_ALERTS,
    AlertCreateIn,
    AlertDeletedOut,
    AlertFilters,
    AlertOut,
    AlertUpdateIn,
)
from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.errors import Conflict, NotFound, ValidationFailed
from umbrella.core.pagination import NEWEST_FIRST, ListPage, Pager
from umbrella.core.signing import BadSignature, Signer
from umbrella.core.sql import Conditions
from umbrella.piccolo_conf import DB

UNSUBSCRIBE_PATH = "/v1/alerts/unsubscribe"
_UNSUBSCRIBE_PURPOSE = "alerts:unsubscribe"
_COLUMNS = "a.id, a.name, a.filters, a.text_urgent, a.active, a.created_at, a.updated_at"


def _no_such_alert() -> NotFound:
    return NotFound("No such alert.", field="alert_id")


def stored_filters(raw: Any) -> AlertFilters:
    """An alert's filters as the `filters` column holds them (asyncpg answers jsonb as text)."""
    return AlertFilters.model_validate(json.loads(raw) if isinstance(raw, str) else raw)


def _alert_out(row: dict[str, Any]) -> AlertOut:
    return AlertOut.model_validate({**row, "filters": stored_filters(row["filters"])})


def _checked(filters: AlertFilters, *, on: date) -> AlertFilters:
    """Browse's own checks, named as the body names them; an alert that can never match is
    refused too."""
    try:
        filters.gig_filters().check()
    except ValidationFailed as error:
        raise ValidationFailed(error.message, field=f"filters.{error.field}") from None
    if filters.date_to is not None and filters.date_to < on:
        raise ValidationFailed(
            "date_to is in the past: this alert would never match a gig.",
            field="filters.date_to",
        )
    return filters


async def _own_row(artist_id: UUID, alert_id: UUID, *, lock: str = "") -> dict[str, Any]:
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM gig_alerts a WHERE a.id = $1 AND a.artist_id = $2 {lock}",
        alert_id,
        artist_id,
    )
    if not rows:
        raise _no_such_alert()  # someone else's alert too: its existence is not told
    return rows[0]


async def list_alerts(
    *, settings: Settings, caller: Caller, cursor: str | None, limit: int
) -> ListPage[AlertOut]:
    """The calling artist's alerts, newest first."""
    artist_id = await caller.require_artist()
    pager = Pager(settings, "alerts", cursor=cursor, limit=limit, keyset=NEWEST_FIRST)
    where = Conditions()
    where.add("a.artist_id = {}", artist_id)
    pager.narrow(where, alias="a")
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM gig_alerts a WHERE {where.sql}"
        f" ORDER BY {pager.order_by('a')} LIMIT {where.param(pager.fetch)}",
        *where.values,
    )
    return pager.page(rows, _alert_out)


async def get_alert(*, caller: Caller, alert_id: UUID) -> AlertOut:
    """One of the calling artist's alerts."""
    artist_id = await caller.require_artist()
    return _alert_out(await _own_row(artist_id, alert_id))


async def create_alert(*, caller: Caller, alert: AlertCreateIn) -> AlertOut:
    """Save a browse filter as an alert: at most MAX_ALERTS per artist (409 `alerts`)."""
    artist_id = await caller.require_artist()
    now = datetime.now(UTC)
    filters = _checked(alert.filters, on=now.date())
    async with DB.transaction():
        # Two creates at once must not both see nine alerts: one waits for the other.
        await db.fetch(
            "SELECT pg_advisory_xact_lock(hashtextextended('gig_alerts:' || $1::uuid::text, 0))",
            artist_id,
        )
        count = await db.fetch(
            "SELECT count(*) AS n FROM gig_alerts WHERE artist_id = $1", artist_id
        )
        if count[0]["n"] >= MAX_ALERTS:
            raise Conflict(
                f"You have {MAX_ALERTS} alerts, the most an artist can keep: delete one to "
                "add another.",
                field="alerts",
            )
        rows = await db.fetch(
            "INSERT INTO gig_alerts AS a"
            " (artist_id, name, filters, text_urgent, active, created_at, updated_at)"
            f" VALUES ($1, $2, $3::jsonb, $4, $5, $6, $6) RETURNING {_COLUMNS}",
            artist_id,
            alert.name,
            json.dumps(filters.stored()),
            alert.text_urgent,
            alert.active,
            now,
        )
    return _alert_out(rows[0])


async def update_alert(*, caller: Caller, alert_id: UUID, changes: AlertUpdateIn) -> AlertOut:
    """Change an alert's name, filters (all of them), text choice or on/off."""
    artist_id = await caller.require_artist()
    now = datetime.now(UTC)
    given = changes.model_dump(exclude_unset=True)
    for name in ("name", "text_urgent", "active"):
        if name in given and given[name] is None:
            raise ValidationFailed(f"{name} cannot be null.", field=name)
    if "filters" in given:
        if changes.filters is None:
            raise ValidationFailed(
                "filters cannot be null: send {} to match every gig.", field="filters"
            )
        given["filters"] = json.dumps(_checked(changes.filters, on=now.date()).stored())
    if not given:
        return await get_alert(caller=caller, alert_id=alert_id)
    where = Conditions()
    sets = [f"{name} = {where.param(value)}" for name, value in given.items()]
    sets.append(f"updated_at = {where.param(now)}")
    where.add("a.id = {}", alert_id)
    where.add("a.artist_id = {}", artist_id)
    rows = await db.fetch(
        f"UPDATE gig_alerts a SET {', '.join(sets)} WHERE {where.sql} RETURNING {_COLUMNS}",
        *where.values,
    )
    if not rows:
        raise _no_such_alert()
    return _alert_out(rows[0])


async def delete_alert(*, caller: Caller, alert_id: UUID) -> AlertDeletedOut:
    """Delete one of the calling artist's alerts (the gigs it sent stay sent)."""
    artist_id = await caller.require_artist()
    rows = await db.fetch(
        "DELETE FROM gig_alerts WHERE id = $1 AND artist_id = $2 RETURNING id", alert_id, artist_id
    )
    if not rows:
        raise _no_such_alert()
    return AlertDeletedOut(id=alert_id, deleted=True)


# -- the unsubscribe link ----------------------------------------------------------------------


def unsubscribe_url(settings: Settings, *, alert_id: UUID) -> str:
    """The link in a digest that turns one alert off: signed, no session needed.

    The token names the alert only; it never expires (an old digest's link must work).
    """
    token = Signer(settings, _UNSUBSCRIBE_PURPOSE).dumps({"a": str(alert_id)})
    return f"{settings.public_base_url.rstrip('/')}{UNSUBSCRIBE_PATH}?token={token}"


def _alert_of(settings: Settings, token: str) -> UUID:
    try:
        return UUID(str(Signer(settings, _UNSUBSCRIBE_PURPOSE).loads(token)["a"]))
    except (BadSignature, KeyError, ValueError):
        raise NotFound("This link is not valid.", field="token") from None


@dataclass(frozen=True)
class AlertSwitch:
    """What an unsubscribe page shows: which alert, and whether it is off now."""

    name: str
    active: bool


async def get_alert_switch(*, settings: Settings, token: str) -> AlertSwitch:
    """The alert an unsubscribe link names (404 `token` for a bad link or a deleted alert)."""
    rows = await db.fetch(
        "SELECT name, active FROM gig_alerts WHERE id = $1", _alert_of(settings, token)
    )
    if not rows:
        raise NotFound("This alert was deleted: it sends nothing.", field="token")
    return AlertSwitch(name=rows[0]["name"], active=rows[0]["active"])


async def turn_off_alert(*, settings: Settings, token: str) -> AlertSwitch:
    """Turn off the alert an unsubscribe link names; again changes nothing."""
    rows = await db.fetch(
        "UPDATE gig_alerts SET active = false,"
        " updated_at = CASE WHEN active THEN now() ELSE updated_at END"
        " WHERE id = $1 RETURNING name",
        _alert_of(settings, token),
    )
    if not rows:
        raise NotFound("This alert was deleted: it sends nothing.", field="token")
    return AlertSwitch(name=rows[0]["name"], active=False)
