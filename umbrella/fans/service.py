"""Fans' contacts (SPEC §3.6): lists, members with proof of consent, imports, unsubscribes.

An import is set-based: rows are checked and merged in Python, COPied into a temporary
table on the transaction's connection, then written with one INSERT … ON CONFLICT, so
100,000 rows take seconds (docs/fans.md has the measurement). Suppressions (unsubscribe,
STOP, bounce, complaint) are per artist, channel and address; nothing here ever clears
one except a START text (umbrella/fans/webhooks.py). docs/fans.md describes every route.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import logging
import unicodedata
import uuid
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any
from uuid import UUID

import asyncpg
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from piccolo.columns import Column

from umbrella.artists import service as artists_service
from umbrella.config import Settings
from umbrella.core.sql import Conditions
from umbrella.fans.schemas import (
    ChannelCounts,
    ContactListOut,
    ContactMemberOut,
    ImportReportOut,
    RejectedRow,
)
from umbrella.fans.tables import ContactList, ContactListMember, FanSuppression
from umbrella.fans.unsubscribe import delivery_of
from umbrella.integrations.sms import InvalidPhoneNumber, normalize_e164
from umbrella.piccolo_conf import DB
from umbrella.web.errors import Conflict, NotFound, ValidationFailed
from umbrella.web.pagination import (
    Cursors,
    add_after_name,
    add_newest_first,
    name_position,
    newest_first_position,
)

log = logging.getLogger(__name__)

MAX_IMPORT_BYTES = 20 * 1024 * 1024
MAX_IMPORT_ROWS = 100_000
MAX_REJECTED_LISTED = 100
# Numbers written without a country code are read as US numbers unless the import says.
DEFAULT_REGION = "US"
IMPORT_COLUMNS = ("email", "phone", "name", "email_opt_in", "sms_opt_in", "timezone", "city")
# An import of 100,000 rows runs longer than the API's usual statement timeout allows.
IMPORT_STATEMENT_TIMEOUT = "120s"
_TRUE = {"true", "yes", "y", "1", "x", "t", "on"}
_FALSE = {"false", "no", "n", "0", "f", "off", ""}
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
    rows = await ContactList.raw(
        f"SELECT {LIST_COLUMNS} FROM contact_lists l {LIST_COUNTS}"
        " WHERE l.id = {} AND l.artist_id = {}",
        list_id,
        artist_id,
    )
    if not rows:
        raise _no_such_list()
    return _list_out(rows[0])


async def _require_list(artist_id: UUID, list_id: UUID, *, lock: bool = False) -> None:
    """404 unless the list is the artist's; `lock` makes writers of its members take turns."""
    # NO KEY UPDATE: broadcasts referencing the list (KEY SHARE) are not held up.
    rows = await ContactList.raw(
        "SELECT id FROM contact_lists WHERE id = {} AND artist_id = {}"
        + (" FOR NO KEY UPDATE" if lock else ""),
        list_id,
        artist_id,
    )
    if not rows:
        raise _no_such_list()


async def create_list(
    *, user_id: UUID, role: str, name: str, description: str | None
) -> ContactListOut:
    """Make a contact list with a name unique among the artist's lists."""
    artist_id = await artists_service.get_own_artist_id(user_id=user_id, role=role)
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


async def get_list(*, user_id: UUID, role: str, list_id: UUID) -> ContactListOut:
    """One of the artist's lists with its member and opted-in counts."""
    artist_id = await artists_service.get_own_artist_id(user_id=user_id, role=role)
    return await _own_list_out(artist_id, list_id)


async def list_lists(
    *, settings: Settings, user_id: UUID, role: str, cursor: str | None, limit: int
) -> dict[str, Any]:
    """The artist's lists by name, each with member counts and opted-in counts per channel."""
    artist_id = await artists_service.get_own_artist_id(user_id=user_id, role=role)
    cursors = Cursors(settings, "contact-lists")
    position = cursors.decode(cursor)
    where = Conditions()
    where.add("l.artist_id = {}", artist_id)
    add_after_name(where, position, alias="l")
    rows = await ContactList.raw(
        f"SELECT {LIST_COLUMNS} FROM contact_lists l {LIST_COUNTS} WHERE {where.sql}"
        " ORDER BY l.name, l.id LIMIT {}",
        *where.values,
        limit + 1,
    )
    return {
        "items": [_list_out(row) for row in rows[:limit]],
        "next_cursor": cursors.next_cursor(rows, limit, name_position),
    }


async def update_list(
    *, user_id: UUID, role: str, list_id: UUID, changes: dict[str, Any]
) -> ContactListOut:
    """Rename one of the artist's lists and/or change its description."""
    artist_id = await artists_service.get_own_artist_id(user_id=user_id, role=role)
    if "name" in changes and changes["name"] is None:
        raise ValidationFailed("A list needs a name.", field="name")
    values: dict[Column | str, Any] = {ContactList.updated_at: datetime.now(UTC)}
    if "name" in changes:
        values[ContactList.name] = changes["name"]
    if "description" in changes:
        values[ContactList.description] = changes["description"] or None
    try:
        async with DB.transaction():
            await _require_list(artist_id, list_id, lock=True)
            await ContactList.update(values).where(ContactList.id == list_id)
    except asyncpg.UniqueViolationError:
        raise _name_taken() from None
    return await _own_list_out(artist_id, list_id)


async def delete_list(*, user_id: UUID, role: str, list_id: UUID) -> None:
    """Delete one of the artist's lists and its members, unless a pending broadcast uses it."""
    artist_id = await artists_service.get_own_artist_id(user_id=user_id, role=role)
    async with DB.transaction():
        await _require_list(artist_id, list_id, lock=True)
        pending = await ContactList.raw(
            "SELECT 1 AS found FROM broadcast_lists bl"
            " JOIN broadcast_messages b ON b.id = bl.broadcast_id"
            " WHERE bl.list_id = {} AND b.status = ANY({}::text[]) LIMIT 1",
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

MEMBER_COLUMNS = """
    m.id, m.email, m.phone, m.name, m.email_opt_in, m.sms_opt_in, m.timezone, m.city,
    m.email_consent_at, m.sms_consent_at, m.consent_source, m.consent_ip,
    m.created_at, m.updated_at,
    EXISTS (SELECT 1 FROM fan_suppressions s WHERE s.artist_id = {} AND s.channel = 'email'
            AND s.address = m.email) AS email_suppressed,
    EXISTS (SELECT 1 FROM fan_suppressions s WHERE s.artist_id = {} AND s.channel = 'sms'
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
    user_id: UUID,
    role: str,
    list_id: UUID,
    cursor: str | None,
    limit: int,
) -> dict[str, Any]:
    """The members of one of the artist's lists, newest first, with consent and suppression."""
    artist_id = await artists_service.get_own_artist_id(user_id=user_id, role=role)
    await _require_list(artist_id, list_id)
    cursors = Cursors(settings, f"contact-members:{list_id}")
    position = cursors.decode(cursor)
    where = Conditions()
    where.add("m.list_id = {}", list_id)
    add_newest_first(where, position, alias="m")
    rows = await ContactListMember.raw(
        f"SELECT {MEMBER_COLUMNS} FROM contact_list_members m WHERE {where.sql}"
        " ORDER BY m.created_at DESC, m.id DESC LIMIT {}",
        artist_id,
        artist_id,
        *where.values,
        limit + 1,
    )
    return {
        "items": [_member_out(row) for row in rows[:limit]],
        "next_cursor": cursors.next_cursor(rows, limit, newest_first_position),
    }


async def delete_member(*, user_id: UUID, role: str, list_id: UUID, member_id: UUID) -> None:
    """Take a member off one of the artist's lists (a suppression of their address stays)."""
    artist_id = await artists_service.get_own_artist_id(user_id=user_id, role=role)
    async with DB.transaction():
        await _require_list(artist_id, list_id)
        deleted = await ContactListMember.raw(
            "DELETE FROM contact_list_members WHERE id = {} AND list_id = {} RETURNING id",
            member_id,
            list_id,
        )
    if not deleted:
        raise NotFound("No such member on this list.", field="member_id")


# -- import: reading rows ------------------------------------------------------------------------


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@dataclass
class Contact:
    """One member-to-be of an import, after its rows were checked and merged."""

    row: int
    email: str | None = None
    phone: str | None = None
    name: str | None = None
    email_opt_in: bool = False
    sms_opt_in: bool = False
    timezone: str | None = None
    city: str | None = None

    def record(self) -> tuple[Any, ...]:
        return (
            self.row,
            self.email,
            self.phone,
            self.name,
            self.email_opt_in,
            self.sms_opt_in,
            self.timezone,
            self.city,
        )


class RowRejected(ValueError):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


def _text(value: Any, field: str, max_length: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise RowRejected(field, "must be text")
    text = value.strip()
    if not text:
        return None
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise RowRejected(field, "must not contain control characters")
    if len(text) > max_length:
        raise RowRejected(field, f"at most {max_length} characters")
    return text


def _flag(value: Any, field: str) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE:
        return True
    if isinstance(value, str) and value.strip().lower() in _FALSE:
        return False
    raise RowRejected(field, "must be true or false (yes/no, 1/0 are fine too)")


def _email(value: Any) -> str | None:
    text = _text(value, "email", 320)
    if text is None:
        return None
    try:
        checked = validate_email(text, check_deliverability=False)
    except EmailNotValidError as error:
        raise RowRejected("email", f"not a valid email address: {error}") from None
    # Stored lowercased (a CHECK insists): one fan, one address, however it was typed.
    return str(checked.normalized).lower()


def _phone(value: Any, region: str) -> str | None:
    text = _text(value, "phone", 40)
    if text is None:
        return None
    try:
        return normalize_e164(text, region)
    except InvalidPhoneNumber as error:
        raise RowRejected("phone", str(error)) from None


def read_contact(row: int, values: Mapping[str, Any], *, region: str) -> Contact:
    """One row of an import, checked and normalised; `RowRejected` names what is wrong."""
    contact = Contact(
        row=row,
        email=_email(values.get("email")),
        phone=_phone(values.get("phone"), region),
        name=_text(values.get("name"), "name", 200),
        email_opt_in=_flag(values.get("email_opt_in"), "email_opt_in"),
        sms_opt_in=_flag(values.get("sms_opt_in"), "sms_opt_in"),
        timezone=_text(values.get("timezone"), "timezone", 64),
        city=_text(values.get("city"), "city", 100),
    )
    if contact.email is None and contact.phone is None:
        raise RowRejected("email", "a contact needs an email or a phone")
    if contact.email_opt_in and contact.email is None:
        raise RowRejected("email_opt_in", "email opt-in needs an email address")
    if contact.sms_opt_in and contact.phone is None:
        raise RowRejected("sms_opt_in", "SMS opt-in needs a phone number")
    if contact.timezone is not None and contact.timezone not in _time_zones():
        raise RowRejected("timezone", "not an IANA time zone name (like America/New_York)")
    return contact


@dataclass
class ImportRows:
    """The contacts of one import, merged: no two share an email or a phone."""

    region: str = DEFAULT_REGION
    contacts: list[Contact] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    rejected_count: int = 0
    rows: int = 0
    merged: int = 0
    _by_email: dict[str, Contact] = field(default_factory=dict)
    _by_phone: dict[str, Contact] = field(default_factory=dict)

    def add(self, row: int, values: Mapping[str, Any]) -> None:
        self.rows += 1
        if self.rows > MAX_IMPORT_ROWS:
            return
        try:
            contact = read_contact(row, values, region=self.region)
        except RowRejected as error:
            self.rejected_count += 1
            if len(self.rejected) < MAX_REJECTED_LISTED:
                self.rejected.append(RejectedRow(row=row, field=error.field, reason=error.reason))
            return
        self._merge(contact)

    def _new(self, contact: Contact) -> Contact:
        self.contacts.append(contact)
        if contact.email is not None:
            self._by_email[contact.email] = contact
        if contact.phone is not None:
            self._by_phone[contact.phone] = contact
        return contact

    def _merge(self, new: Contact) -> None:
        by_email = self._by_email.get(new.email) if new.email else None
        by_phone = self._by_phone.get(new.phone) if new.phone else None
        if by_email is None and by_phone is None:
            self._new(new)
            return
        self.merged += 1
        # Same rule as the merge into the list (`_MERGE`): an address goes to the contact
        # that has it, else to one without that kind of address; a contact's address is
        # never replaced, so two people sharing one phone stay two contacts.
        email_owner = by_email or (by_phone if by_phone and by_phone.email is None else None)
        phone_owner = by_phone or (by_email if by_email and by_email.phone is None else None)
        if new.email is not None:
            owner = email_owner or self._new(Contact(row=new.row, email=new.email))
            owner.email = owner.email or new.email
            self._by_email[new.email] = owner
            owner.email_opt_in = owner.email_opt_in or new.email_opt_in
            _fill(owner, new)
        if new.phone is not None:
            owner = phone_owner or self._new(Contact(row=new.row, phone=new.phone))
            owner.phone = owner.phone or new.phone
            self._by_phone[new.phone] = owner
            owner.sms_opt_in = owner.sms_opt_in or new.sms_opt_in
            if new.email is None:
                _fill(owner, new)


def _fill(owner: Contact, new: Contact) -> None:
    # The first row that says a name (time zone, city) wins within one file; they go with
    # the email when a row has one (a shared family phone must not rename its owner).
    owner.name = owner.name or new.name
    owner.timezone = owner.timezone or new.timezone
    owner.city = owner.city or new.city


def _too_many_rows(field: str) -> ValidationFailed:
    return ValidationFailed(
        f"An import holds at most {MAX_IMPORT_ROWS:,} rows: split the file.", field=field
    )


def read_csv(data: bytes, *, region: str) -> ImportRows:
    """The rows of a CSV file with a header row (columns: `IMPORT_COLUMNS`, any order)."""
    try:
        text = data.decode("utf-8-sig")  # Excel writes a byte-order mark
    except UnicodeDecodeError:
        raise ValidationFailed("The file must be UTF-8 text (CSV).", field="file") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise ValidationFailed("The file is empty: it needs a header row.", field="file")
        columns = _header(header)
        rows = ImportRows(region=region)
        for values in reader:
            if not any(value.strip() for value in values):
                continue  # blank lines
            if len(values) > len(columns):
                rows.rows += 1
                rows.rejected_count += 1
                if len(rows.rejected) < MAX_REJECTED_LISTED:
                    rows.rejected.append(
                        RejectedRow(
                            row=reader.line_num,
                            field="row",
                            reason=f"{len(values)} values for {len(columns)} columns",
                        )
                    )
                continue
            rows.add(reader.line_num, dict(zip(columns, values, strict=False)))
    except csv.Error as error:
        raise ValidationFailed(
            f"The file is not valid CSV (line {reader.line_num}): {error}.", field="file"
        ) from None
    if rows.rows > MAX_IMPORT_ROWS:
        raise _too_many_rows("file")
    if rows.rows == 0:
        raise ValidationFailed("The file has a header but no contacts.", field="file")
    return rows


def _header(header: list[str]) -> list[str]:
    columns = [name.strip().lower() for name in header]
    unknown = [name for name in columns if name not in IMPORT_COLUMNS]
    if unknown:
        raise ValidationFailed(
            f"Unknown column {unknown[0]!r} in the header row: the columns are "
            f"{', '.join(IMPORT_COLUMNS)}.",
            field="header",
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise ValidationFailed(f"Column {repeated[0]!r} appears twice.", field="header")
    if "email" not in columns and "phone" not in columns:
        raise ValidationFailed(
            "The header row needs an email or a phone column (or both).", field="header"
        )
    return columns


def read_json_contacts(contacts: Any, *, region: str) -> ImportRows:
    """The `contacts` array of a JSON import (objects with the CSV's column names)."""
    if not isinstance(contacts, list):
        raise ValidationFailed("Send contacts as an array of objects.", field="contacts")
    if len(contacts) > MAX_IMPORT_ROWS:
        raise _too_many_rows("contacts")
    if not contacts:
        raise ValidationFailed("Send at least one contact.", field="contacts")
    rows = ImportRows(region=region)
    for index, item in enumerate(contacts):
        if not isinstance(item, dict):
            raise ValidationFailed("Each contact must be an object.", field=f"contacts.{index}")
        unknown = [key for key in item if key not in IMPORT_COLUMNS]
        if unknown:
            raise ValidationFailed(
                "This field is not allowed.", field=f"contacts.{index}.{unknown[0]}"
            )
        rows.add(index + 1, item)
    return rows


def region_of(value: str | None) -> str:
    """The region numbers without a country code are read in (ISO 3166 alpha-2)."""
    region = (value or DEFAULT_REGION).strip().upper()
    if not region or region not in _regions():
        raise ValidationFailed(
            "Give a two-letter country code (ISO 3166), like US or GB.", field="region"
        )
    return region


@cache
def _regions() -> frozenset[str]:
    return frozenset(phonenumbers.SUPPORTED_REGIONS)


# -- import: writing ----------------------------------------------------------------------------

_TEMP_TABLE = """
    CREATE TEMP TABLE contact_import (
        row_no integer NOT NULL,
        new_id uuid NOT NULL DEFAULT gen_random_uuid(),
        email text,
        phone text,
        name text,
        email_opt_in boolean NOT NULL,
        sms_opt_in boolean NOT NULL,
        timezone text,
        city text
    ) ON COMMIT DROP
"""
_COPY_COLUMNS = (
    "row_no",
    "email",
    "phone",
    "name",
    "email_opt_in",
    "sms_opt_in",
    "timezone",
    "city",
)

# Each imported contact splits into an email part and a phone part. A part goes to the
# member that has the address, else to the member matched by the other address if that
# member has none of this kind, else to a new member (one for both parts when neither
# address is known). Members' addresses are never replaced, opt-ins are OR-ed (an import
# never withdraws consent) and consent already recorded keeps its time, source and IP.
_MERGE = """
WITH members AS (
    SELECT id, email, phone FROM contact_list_members WHERE list_id = {}
), matched AS (
    SELECT i.*, e.id AS e_id, e.phone AS e_phone, p.id AS p_id, p.email AS p_email
    FROM contact_import i
    LEFT JOIN members e ON e.email = i.email
    LEFT JOIN members p ON p.phone = i.phone
), owned AS (
    SELECT matched.*,
        CASE WHEN email IS NULL THEN NULL
             WHEN e_id IS NOT NULL THEN e_id
             WHEN p_id IS NOT NULL AND p_email IS NULL THEN p_id
             ELSE new_id END AS email_owner,
        CASE WHEN phone IS NULL THEN NULL
             WHEN p_id IS NOT NULL THEN p_id
             WHEN e_id IS NOT NULL AND e_phone IS NULL THEN e_id
             ELSE new_id END AS phone_owner
    FROM matched
), parts AS (
    SELECT email_owner AS owner, row_no, email, NULL::text AS phone, email_opt_in,
           false AS sms_opt_in, name, timezone, city
    FROM owned WHERE email_owner IS NOT NULL
    UNION ALL
    -- name, time zone and city belong to the email's member when the row has an email
    -- (a shared family phone must not rename its owner)
    SELECT phone_owner, row_no, NULL, phone, false, sms_opt_in,
           CASE WHEN email IS NULL THEN name END, CASE WHEN email IS NULL THEN timezone END,
           CASE WHEN email IS NULL THEN city END
    FROM owned WHERE phone_owner IS NOT NULL
), merged AS (
    SELECT owner, max(email) AS email, max(phone) AS phone,
        (array_agg(name ORDER BY row_no) FILTER (WHERE name IS NOT NULL))[1] AS name,
        bool_or(email_opt_in) AS email_opt_in, bool_or(sms_opt_in) AS sms_opt_in,
        (array_agg(timezone ORDER BY row_no) FILTER (WHERE timezone IS NOT NULL))[1] AS timezone,
        (array_agg(city ORDER BY row_no) FILTER (WHERE city IS NOT NULL))[1] AS city
    FROM parts GROUP BY owner
), written AS (
    INSERT INTO contact_list_members AS m (
        id, list_id, email, phone, name, email_opt_in, sms_opt_in, timezone, city,
        email_consent_at, sms_consent_at, consent_source, consent_ip, created_at, updated_at
    )
    SELECT owner, {}, email, phone, name, email_opt_in, sms_opt_in, timezone, city,
        CASE WHEN email_opt_in THEN {}::timestamptz END,
        CASE WHEN sms_opt_in THEN {}::timestamptz END,
        CASE WHEN email_opt_in OR sms_opt_in THEN 'import' END,
        CASE WHEN email_opt_in OR sms_opt_in THEN {}::inet END,
        {}, {}
    FROM merged
    ON CONFLICT (id) DO UPDATE SET
        email = coalesce(m.email, EXCLUDED.email),
        phone = coalesce(m.phone, EXCLUDED.phone),
        name = coalesce(EXCLUDED.name, m.name),
        timezone = coalesce(EXCLUDED.timezone, m.timezone),
        city = coalesce(EXCLUDED.city, m.city),
        email_opt_in = m.email_opt_in OR EXCLUDED.email_opt_in,
        sms_opt_in = m.sms_opt_in OR EXCLUDED.sms_opt_in,
        email_consent_at = CASE WHEN m.email_opt_in THEN m.email_consent_at
            ELSE coalesce(EXCLUDED.email_consent_at, m.email_consent_at) END,
        sms_consent_at = CASE WHEN m.sms_opt_in THEN m.sms_consent_at
            ELSE coalesce(EXCLUDED.sms_consent_at, m.sms_consent_at) END,
        consent_source = CASE
            WHEN (EXCLUDED.email_opt_in AND NOT m.email_opt_in)
              OR (EXCLUDED.sms_opt_in AND NOT m.sms_opt_in) THEN EXCLUDED.consent_source
            ELSE m.consent_source END,
        consent_ip = CASE
            WHEN (EXCLUDED.email_opt_in AND NOT m.email_opt_in)
              OR (EXCLUDED.sms_opt_in AND NOT m.sms_opt_in) THEN EXCLUDED.consent_ip
            ELSE m.consent_ip END,
        updated_at = EXCLUDED.updated_at
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS imported,
       count(*) FILTER (WHERE NOT inserted) AS updated
FROM written
"""

# Import never clears a suppression: this only counts the addresses that stay suppressed.
_SUPPRESSED = """
SELECT count(*) AS suppressed FROM contact_import i
WHERE EXISTS (SELECT 1 FROM fan_suppressions s WHERE s.artist_id = {}
              AND s.channel = 'email' AND s.address = i.email)
   OR EXISTS (SELECT 1 FROM fan_suppressions s WHERE s.artist_id = {}
              AND s.channel = 'sms' AND s.address = i.phone)
"""


async def _target_list(
    artist_id: UUID, list_id: UUID | None, list_name: str | None
) -> tuple[UUID, bool]:
    """The list an import goes to, locked for it: `list_id`, or `list_name` (made if new)."""
    if (list_id is None) == (list_name is None):
        raise ValidationFailed("Give either list_id or list_name.", field="list_id")
    if list_id is not None:
        await _require_list(artist_id, list_id, lock=True)
        return list_id, False
    assert list_name is not None
    name = list_name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("A list name has 1 to 100 characters.", field="list_name")
    now = datetime.now(UTC)
    made = await ContactList.raw(
        "INSERT INTO contact_lists (id, artist_id, name, created_at, updated_at)"
        " VALUES ({}, {}, {}, {}, {}) ON CONFLICT (artist_id, name) DO NOTHING RETURNING id",
        uuid.uuid4(),
        artist_id,
        name,
        now,
        now,
    )
    if made:
        return made[0]["id"], True
    found = await ContactList.raw(
        "SELECT id FROM contact_lists WHERE artist_id = {} AND name = {} FOR NO KEY UPDATE",
        artist_id,
        name,
    )
    return found[0]["id"], False


async def create_import(
    *,
    user_id: UUID,
    role: str,
    list_id: UUID | None,
    list_name: str | None,
    rows: ImportRows,
    client_ip: str | None,
) -> ImportReportOut:
    """Add checked, merged contacts to one of the artist's lists, recording their consent."""
    artist_id = await artists_service.get_own_artist_id(user_id=user_id, role=role)
    now = datetime.now(UTC)
    imported = updated = suppressed = 0
    async with DB.transaction() as transaction:
        target, created = await _target_list(artist_id, list_id, list_name)
        if rows.contacts:
            await ContactListMember.raw(
                f"SET LOCAL statement_timeout = '{IMPORT_STATEMENT_TIMEOUT}'"
            )
            await ContactListMember.raw(_TEMP_TABLE)
            connection: asyncpg.Connection = transaction.connection
            await connection.copy_records_to_table(
                "contact_import",
                records=(contact.record() for contact in rows.contacts),
                columns=_COPY_COLUMNS,
            )
            counts = await ContactListMember.raw(
                _MERGE, target, target, now, now, _inet(client_ip), now, now
            )
            imported, updated = int(counts[0]["imported"]), int(counts[0]["updated"])
            found = await ContactListMember.raw(_SUPPRESSED, artist_id, artist_id)
            suppressed = int(found[0]["suppressed"])
            await ContactList.update({ContactList.updated_at: now}).where(ContactList.id == target)
    log.info(
        "contacts imported",
        extra={"list_id": str(target), "imported": imported, "updated": updated},
    )
    return ImportReportOut(
        list_id=target,
        list_created=created,
        rows=rows.rows,
        imported=imported,
        updated=updated,
        merged=rows.merged,
        suppressed=suppressed,
        rejected_count=rows.rejected_count,
        rejected=rows.rejected,
        more_rejected=rows.rejected_count - len(rows.rejected),
    )


def _inet(address: str | None) -> str | None:
    """The client's IP for `consent_ip`, or None when it is not a plain address."""
    try:
        return str(ipaddress.ip_address(address)) if address else None
    except ValueError:
        return None


# -- suppressions ---------------------------------------------------------------------------------

# Who "an artist" is for an address: every artist with it on a list, or who already sent to
# it on the channel (so re-importing an old file cannot undo a STOP or a bounce).
_ARTISTS_OF_ADDRESS = """
    SELECT l.artist_id FROM contact_list_members m JOIN contact_lists l ON l.id = m.list_id
    WHERE m.{column} = {{}}
    UNION
    SELECT b.artist_id FROM broadcast_deliveries d
    JOIN broadcast_messages b ON b.id = d.broadcast_id
    WHERE d.channel = {{}} AND d.address = {{}}
"""


async def suppress(*, artist_id: UUID, channel: str, address: str, reason: str) -> bool:
    """Stop an artist's messages to an address on a channel; False when it already was."""
    added = await FanSuppression.raw(
        "INSERT INTO fan_suppressions (id, artist_id, channel, address, reason, created_at)"
        " VALUES (gen_random_uuid(), {}, {}, {}, {}, now())"
        " ON CONFLICT (artist_id, channel, address) DO NOTHING RETURNING id",
        artist_id,
        channel,
        address,
        reason,
    )
    return bool(added)


async def suppress_everywhere(*, channel: str, address: str, reason: str) -> int:
    """Suppress an address for every artist who has it on a list or sent to it; how many new."""
    column = "email" if channel == "email" else "phone"
    added = await FanSuppression.raw(
        "INSERT INTO fan_suppressions (id, artist_id, channel, address, reason, created_at)"
        " SELECT gen_random_uuid(), artist_id, {}, {}, {}, now() FROM ("
        + _ARTISTS_OF_ADDRESS.format(column=column)
        + ") a ON CONFLICT (artist_id, channel, address) DO NOTHING RETURNING id",
        channel,
        address,
        reason,
        address,
        channel,
        address,
    )
    return len(added)


@dataclass(frozen=True)
class EmailDelivery:
    artist_id: UUID
    address: str


async def get_email_delivery(*, email_id: str) -> EmailDelivery | None:
    """The broadcast email Resend knows by `email_id`: its artist and address; None if not ours."""
    rows = await FanSuppression.raw(
        "SELECT b.artist_id, d.address FROM broadcast_deliveries d"
        " JOIN broadcast_messages b ON b.id = d.broadcast_id"
        " WHERE d.provider_message_id = {} AND d.channel = 'email' LIMIT 1",
        email_id,
    )
    if not rows:
        return None
    return EmailDelivery(artist_id=rows[0]["artist_id"], address=rows[0]["address"])


async def delete_stop_suppressions(*, phone: str) -> int:
    """Lift the STOPs of a number (it texted START); other reasons stay. How many lifted."""
    lifted = await FanSuppression.raw(
        "DELETE FROM fan_suppressions WHERE channel = 'sms' AND address = {} AND reason = 'stop'"
        " RETURNING id",
        phone,
    )
    return len(lifted)


# -- unsubscribe -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unsubscription:
    """What an unsubscribe link is about: whose messages, and whether it already took effect."""

    artist_id: UUID
    artist_name: str
    channel: str
    address: str
    unsubscribed: bool


async def _unsubscription(settings: Settings, token: str) -> Unsubscription:
    delivery_id = delivery_of(settings, token)
    rows = await FanSuppression.raw(
        "SELECT b.artist_id, a.stage_name, d.channel, d.address,"
        " EXISTS (SELECT 1 FROM fan_suppressions s WHERE s.artist_id = b.artist_id"
        "   AND s.channel = d.channel AND s.address = d.address) AS unsubscribed"
        " FROM broadcast_deliveries d"
        " JOIN broadcast_messages b ON b.id = d.broadcast_id"
        " JOIN artists a ON a.id = b.artist_id"
        " WHERE d.id = {}",
        delivery_id,
    )
    if not rows:
        # A valid signature for a delivery that is gone (the artist deleted their account).
        raise NotFound("This unsubscribe link is no longer valid.", field="token")
    row = rows[0]
    return Unsubscription(
        artist_id=row["artist_id"],
        artist_name=row["stage_name"],
        channel=row["channel"],
        address=row["address"],
        unsubscribed=row["unsubscribed"],
    )


async def get_unsubscription(*, settings: Settings, token: str) -> Unsubscription:
    """Whose messages an unsubscribe link stops; 404 `token` for a forged or stale link."""
    return await _unsubscription(settings, token)


async def create_unsubscription(*, settings: Settings, token: str) -> Unsubscription:
    """Unsubscribe the address of a delivery from its artist's messages, at once (idempotent)."""
    found = await _unsubscription(settings, token)
    opt_in = "email_opt_in" if found.channel == "email" else "sms_opt_in"
    column = "email" if found.channel == "email" else "phone"
    async with DB.transaction():
        await suppress(
            artist_id=found.artist_id,
            channel=found.channel,
            address=found.address,
            reason="unsubscribe",
        )
        # The consent is withdrawn on every list of that artist, not only the one mailed.
        await ContactListMember.raw(
            f"UPDATE contact_list_members m SET {opt_in} = false, updated_at = now()"
            f" FROM contact_lists l WHERE l.id = m.list_id AND l.artist_id = {{}}"
            f" AND m.{column} = {{}} AND m.{opt_in}",
            found.artist_id,
            found.address,
        )
    return Unsubscription(
        artist_id=found.artist_id,
        artist_name=found.artist_name,
        channel=found.channel,
        address=found.address,
        unsubscribed=True,
    )
