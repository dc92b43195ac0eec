"""Fans' contacts (SPEC §3.6): lists and their members, with proof of consent.

The other seams of the domain have modules of their own: imports (`import_rows.py` reads
and merges the rows, `imports.py` writes them), and suppressions with unsubscribe links
(`suppressions.py`). docs/fans.md describes every route.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
from piccolo.columns import Column

from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.errors import Conflict, NotFound, ValidationFailed
from umbrella.core.pagination import BY_NAME, ListPage, Pager
from umbrella.core.sql import Conditions
from umbrella.fans.schemas import ChannelCounts, ContactListOut, ContactMemberOut
from umbrella.fans.tables import ContactList
from umbrella.piccolo_conf import DB

# A broadcast still to go out needs its lists (broadcast_lists cascade on delete).
_PENDING_BROADCAST_STATUSES = ["scheduled", "sending"]


# -- lists ---------------------------------------------------------------------------------------

LIST_COLUMNS = (
    "l.id, l.name, l.description, l.created_at, l.updated_at,"
    " c.member_count, c.email_opted_in, c.sms_opted_in"
)
# Opted in AND not suppressed: exactly who a broadcast would reach on each channel.
LIST_COUNTS = """
    CROSS JOIN LATERAL (
        SELECT count(*) AS member_count,
            count(*) FILTER (WHERE m.email_opt_in AND NOT EXISTS (
                SELECT 1 FROM fan_suppressions s WHERE s.artist_id = l.artist_id
                AND s.channel = 'email' AND s.address = m.email)) AS email_opted_in,
            count(*) FILTER (WHERE m.sms_opt_in AND NOT EXISTS (
                SELECT 1 FROM fan_suppressions s WHERE s.artist_id = l.artist_id
                AND s.channel = 'sms' AND s.address = m.phone)) AS sms_opted_in
        FROM contact_list_members m WHERE m.list_id = l.id
    ) c
"""


def _list_out(row: Mapping[str, Any]) -> ContactListOut:
    return ContactListOut(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        member_count=row["member_count"],
        opted_in=ChannelCounts(email=row["email_opted_in"], sms=row["sms_opted_in"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _no_such_list(field: str = "list_id") -> NotFound:
    # Another artist's list is "no such list": its existence is not the caller's business.
    return NotFound("No such contact list.", field=field)


def _name_taken() -> Conflict:
    return Conflict("You already have a contact list with this name.", field="name")


async def _own_list_out(artist_id: UUID, list_id: UUID) -> ContactListOut:
    rows = await db.fetch(
        f"SELECT {LIST_COLUMNS} FROM contact_lists l {LIST_COUNTS}"
        " WHERE l.id = $1 AND l.artist_id = $2",
        list_id,
        artist_id,
    )
    if not rows:
        raise _no_such_list()
    return _list_out(rows[0])


async def require_list(artist_id: UUID, list_id: UUID, *, lock: bool = False) -> None:
    """404 unless the list is the artist's; `lock` makes writers of its members take turns."""
    # NO KEY UPDATE: broadcasts referencing the list (KEY SHARE) are not held up.
    rows = await db.fetch(
        "SELECT id FROM contact_lists WHERE id = $1 AND artist_id = $2"
        + (" FOR NO KEY UPDATE" if lock else ""),
        list_id,
        artist_id,
    )
    if not rows:
        raise _no_such_list()


async def create_list(*, caller: Caller, name: str, description: str | None) -> ContactListOut:
    """Make a contact list with a name unique among the artist's lists."""
    artist_id = await caller.require_artist()
    list_id = uuid.uuid4()
    now = datetime.now(UTC)
    try:
        async with DB.transaction():
            await ContactList.insert(
                ContactList(
                    id=list_id,
                    artist_id=artist_id,
                    name=name,
                    description=description or None,
                    created_at=now,
                    updated_at=now,
                )
            )
    except asyncpg.UniqueViolationError:
        raise _name_taken() from None
    return await _own_list_out(artist_id, list_id)


async def get_list(*, caller: Caller, list_id: UUID) -> ContactListOut:
    """One of the artist's lists with its member and opted-in counts."""
    artist_id = await caller.require_artist()
    return await _own_list_out(artist_id, list_id)


async def list_lists(
    *, settings: Settings, caller: Caller, cursor: str | None, limit: int
) -> ListPage[ContactListOut]:
    """The artist's lists by name, each with member counts and opted-in counts per channel."""
    artist_id = await caller.require_artist()
    pager = Pager(settings, "contact-lists", cursor=cursor, limit=limit, keyset=BY_NAME)
    where = Conditions()
    where.add("l.artist_id = {}", artist_id)
    pager.narrow(where, alias="l")
    rows = await db.fetch(
        f"SELECT {LIST_COLUMNS} FROM contact_lists l {LIST_COUNTS} WHERE {where.sql}"
        f" ORDER BY {pager.order_by('l')} LIMIT {where.param(pager.fetch)}",
        *where.values,
    )
    return pager.page(rows, _list_out)


async def update_list(*, caller: Caller, list_id: UUID, changes: dict[str, Any]) -> ContactListOut:
    """Rename one of the artist's lists and/or change its description."""
    artist_id = await caller.require_artist()
    if "name" in changes and changes["name"] is None:
        raise ValidationFailed("A list needs a name.", field="name")
    values: dict[Column | str, Any] = {ContactList.updated_at: datetime.now(UTC)}
    if "name" in changes:
        values[ContactList.name] = changes["name"]
    if "description" in changes:
        values[ContactList.description] = changes["description"] or None
    try:
        async with DB.transaction():
            await require_list(artist_id, list_id, lock=True)
            await ContactList.update(values).where(ContactList.id == list_id)
    except asyncpg.UniqueViolationError:
        raise _name_taken() from None
    return await _own_list_out(artist_id, list_id)


async def delete_list(*, caller: Caller, list_id: UUID) -> None:
    """Delete one of the artist's lists and its members, unless a pending broadcast uses it."""
    artist_id = await caller.require_artist()
    async with DB.transaction():
        await require_list(artist_id, list_id, lock=True)
        pending = await db.fetch(
            "SELECT 1 AS found FROM broadcast_lists bl"
            " JOIN broadcast_messages b ON b.id = bl.broadcast_id"
            " WHERE bl.list_id = $1 AND b.status = ANY($2::text[]) LIMIT 1",
            list_id,
            _PENDING_BROADCAST_STATUSES,
        )
        if pending:
            raise Conflict(
                "A scheduled or sending broadcast goes to this list: cancel it first.",
                field="list_id",
            )
        # Suppressions are the artist's, not the list's: they outlive it.
        await ContactList.delete().where(ContactList.id == list_id)


# -- members ---------------------------------------------------------------------------------------

# The suppression checks read the artist's id as $1: the list's conditions are numbered after it.
MEMBER_COLUMNS = """
    m.id, m.email, m.phone, m.name, m.email_opt_in, m.sms_opt_in, m.timezone, m.city,
    m.email_consent_at, m.sms_consent_at, m.consent_source, m.consent_ip,
    m.created_at, m.updated_at,
    EXISTS (SELECT 1 FROM fan_suppressions s WHERE s.artist_id = $1 AND s.channel = 'email'
            AND s.address = m.email) AS email_suppressed,
    EXISTS (SELECT 1 FROM fan_suppressions s WHERE s.artist_id = $1 AND s.channel = 'sms'
            AND s.address = m.phone) AS sms_suppressed
"""


def _member_out(row: Mapping[str, Any]) -> ContactMemberOut:
    ip = row["consent_ip"]
    return ContactMemberOut(
        **{key: row[key] for key in ContactMemberOut.model_fields if key != "consent_ip"},
        consent_ip=str(ip) if ip is not None else None,
    )


async def list_members(
    *,
    settings: Settings,
    caller: Caller,
    list_id: UUID,
    cursor: str | None,
    limit: int,
) -> ListPage[ContactMemberOut]:
    """The members of one of the artist's lists, newest first, with consent and suppression."""
    artist_id = await caller.require_artist()
    await require_list(artist_id, list_id)
    pager = Pager(settings, f"contact-members:{list_id}", cursor=cursor, limit=limit)
    where = Conditions()
    where.param(artist_id)  # $1, which MEMBER_COLUMNS reads
    where.add("m.list_id = {}", list_id)
    pager.narrow(where, alias="m")
    rows = await db.fetch(
        f"SELECT {MEMBER_COLUMNS} FROM contact_list_members m WHERE {where.sql}"
        f" ORDER BY {pager.order_by('m')} LIMIT {where.param(pager.fetch)}",
        *where.values,
    )
    return pager.page(rows, _member_out)


async def delete_member(*, caller: Caller, list_id: UUID, member_id: UUID) -> None:
    """Take a member off one of the artist's lists (a suppression of their address stays)."""
    artist_id = await caller.require_artist()
    async with DB.transaction():
        await require_list(artist_id, list_id)
        deleted = await db.fetch(
            "DELETE FROM contact_list_members WHERE id = $1 AND list_id = $2 RETURNING id",
            member_id,
            list_id,
        )
    if not deleted:
        raise NotFound("No such member on this list.", field="member_id")
