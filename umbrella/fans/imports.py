"""Writing a contact import: set-based, so 100,000 rows take seconds (docs/fans.md has the
measurement).

The checked, merged rows (`import_rows.py`) are COPied into a temporary table on the
transaction's connection, then written with one INSERT … ON CONFLICT that merges them into
the list's members, recording consent and never withdrawing any.
"""

from __future__ import annotations

import ipaddress
import logging
import uuid
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.errors import ValidationFailed
from umbrella.fans.import_rows import ImportRows
from umbrella.fans.schemas import ImportReportOut
from umbrella.fans.service import require_list
from umbrella.fans.tables import ContactList
from umbrella.piccolo_conf import DB

log = logging.getLogger(__name__)

# An import of 100,000 rows runs longer than the API's usual statement timeout allows.
IMPORT_STATEMENT_TIMEOUT = "120s"


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
    SELECT id, email, phone FROM contact_list_members WHERE list_id = $1
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
    SELECT owner, $1, email, phone, name, email_opt_in, sms_opt_in, timezone, city,
        CASE WHEN email_opt_in THEN $2::timestamptz END,
        CASE WHEN sms_opt_in THEN $2::timestamptz END,
        CASE WHEN email_opt_in OR sms_opt_in THEN 'import' END,
        CASE WHEN email_opt_in OR sms_opt_in THEN $3::inet END,
        $2, $2
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
WHERE EXISTS (SELECT 1 FROM fan_suppressions s WHERE s.artist_id = $1
              AND s.channel = 'email' AND s.address = i.email)
   OR EXISTS (SELECT 1 FROM fan_suppressions s WHERE s.artist_id = $1
              AND s.channel = 'sms' AND s.address = i.phone)
"""


async def _target_list(
    artist_id: UUID, list_id: UUID | None, list_name: str | None
) -> tuple[UUID, bool]:
    """The list an import goes to, locked for it: `list_id`, or `list_name` (made if new)."""
    if (list_id is None) == (list_name is None):
        raise ValidationFailed("Give either list_id or list_name.", field="list_id")
    if list_id is not None:
        await require_list(artist_id, list_id, lock=True)
        return list_id, False
    assert list_name is not None
    name = list_name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("A list name has 1 to 100 characters.", field="list_name")
    now = datetime.now(UTC)
    made = await db.fetch(
        "INSERT INTO contact_lists (id, artist_id, name, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (artist_id, name) DO NOTHING RETURNING id",
        uuid.uuid4(),
        artist_id,
        name,
        now,
        now,
    )
    if made:
        return made[0]["id"], True
    found = await db.fetch(
        "SELECT id FROM contact_lists WHERE artist_id = $1 AND name = $2 FOR NO KEY UPDATE",
        artist_id,
        name,
    )
    return found[0]["id"], False


async def create_import(
    *,
    caller: Caller,
    list_id: UUID | None,
    list_name: str | None,
    rows: ImportRows,
    client_ip: str | None,
) -> ImportReportOut:
    """Add checked, merged contacts to one of the artist's lists, recording their consent."""
    artist_id = await caller.require_artist()
    now = datetime.now(UTC)
    imported = updated = suppressed = 0
    async with DB.transaction() as transaction:
        target, created = await _target_list(artist_id, list_id, list_name)
        if rows.contacts:
            await db.fetch(f"SET LOCAL statement_timeout = '{IMPORT_STATEMENT_TIMEOUT}'")
            await db.fetch(_TEMP_TABLE)
            connection: asyncpg.Connection = transaction.connection
            await connection.copy_records_to_table(
                "contact_import",
                records=(contact.record() for contact in rows.contacts),
                columns=_COPY_COLUMNS,
            )
            # $1 the list, $2 the time (consent and row times), $3 the client's address.
            counts = await db.fetch(_MERGE, target, now, _inet(client_ip))
            imported, updated = int(counts[0]["imported"]), int(counts[0]["updated"])
            found = await db.fetch(_SUPPRESSED, artist_id)
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
