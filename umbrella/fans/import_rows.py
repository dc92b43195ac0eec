"""Reading a contact import: CSV or JSON rows checked, normalised and merged in Python.

Every row is checked on its own (`RowRejected` names what is wrong) and merged with the
rows before it, so the contacts handed to `imports.create_import` share no email and no
phone. docs/fans.md has the columns and the rules.
"""

from __future__ import annotations

import csv
import io
import unicodedata
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from umbrella.core.errors import ValidationFailed
from umbrella.fans.schemas import RejectedRow
from umbrella.integrations.sms import InvalidPhoneNumber, normalize_e164

MAX_IMPORT_BYTES = 20 * 1024 * 1024
MAX_IMPORT_ROWS = 100_000
MAX_REJECTED_LISTED = 100
# Numbers written without a country code are read as US numbers unless the import says.
DEFAULT_REGION = "US"
IMPORT_COLUMNS = ("email", "phone", "name", "email_opt_in", "sms_opt_in", "timezone", "city")
_TRUE = {"true", "yes", "y", "1", "x", "t", "on"}
_FALSE = {"false", "no", "n", "0", "f", "off", ""}


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
