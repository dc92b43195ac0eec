"""The migrated schema: Piccolo mirrors it exactly, and the database itself keeps the rules."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from piccolo.columns import ForeignKey
from piccolo.constraints import Check, Unique
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

from umbrella.piccolo_conf import APP_REGISTRY

# Tables that are not ours: Piccolo's bookkeeping and the job queue's (pgqueuer's names).
_FOREIGN_TABLES = re.compile(r"^(migration|pgqueuer(_\w+)?)$")

_ON_DELETE = {
    "CASCADE": "c",
    "SET NULL": "n",
    "NO ACTION": "a",
    "RESTRICT": "r",
    "SET DEFAULT": "d",
}


def _piccolo_tables() -> list[type[Table]]:
    return [table for app in APP_REGISTRY.app_configs.values() for table in app.table_classes]


def _our_tablenames() -> set[str]:
    return {table._meta.tablename for table in _piccolo_tables()}


@pytest.fixture
async def conn(db: PostgresEngine) -> AsyncIterator[asyncpg.Connection]:
    assert db.pool is not None
    async with db.pool.acquire() as connection:
        yield connection


async def _canonical_types(conn: asyncpg.Connection, declared: set[str]) -> dict[str, str]:
    """How Postgres spells each type Piccolo declares (VARCHAR(50) is character varying(50))."""
    ordered = sorted(declared)
    columns = ", ".join(f"c{index} {declared_type}" for index, declared_type in enumerate(ordered))
    await conn.execute(f"CREATE TEMP TABLE piccolo_types ({columns})")
    rows = await conn.fetch(
        """
        SELECT attnum, format_type(atttypid, atttypmod) AS type FROM pg_attribute
        WHERE attrelid = 'piccolo_types'::regclass AND attnum > 0 ORDER BY attnum
        """
    )
    await conn.execute("DROP TABLE piccolo_types")
    return {ordered[row["attnum"] - 1]: row["type"] for row in rows}


async def test_every_table_in_the_database_is_a_piccolo_table(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch(
        """
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm')
        """
    )
    in_database = {row["relname"] for row in rows if not _FOREIGN_TABLES.match(row["relname"])}
    assert in_database == _our_tablenames()


async def test_piccolo_columns_match_the_database(conn: asyncpg.Connection) -> None:
    tables = _piccolo_tables()
    canonical = await _canonical_types(
        conn, {column.column_type for table in tables for column in table._meta.columns}
    )
    expected = {
        (table._meta.tablename, column._meta.db_column_name): (
            canonical[column.column_type],
            "NULL" if column._meta.null else "NOT NULL",
        )
        for table in tables
        for column in table._meta.columns
    }
    rows = await conn.fetch(
        """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
        """
    )
    actual = {
        (row["relname"], row["attname"]): (row["type"], "NOT NULL" if row["attnotnull"] else "NULL")
        for row in rows
        if row["relname"] in _our_tablenames()
    }
    assert {key: value for key, value in expected.items() if actual.get(key) != value} == {}
    assert {key: value for key, value in actual.items() if expected.get(key) != value} == {}


async def test_piccolo_constraints_and_foreign_keys_match_the_database(
    conn: asyncpg.Connection,
) -> None:
    rows = await conn.fetch(
        """
        SELECT cl.relname AS table_name, c.conname, c.contype::text AS kind,
               c.confdeltype::text AS on_delete, ref.relname AS referenced,
               ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(attnum, n)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
                     ORDER BY k.n) AS columns,
               coalesce(i.indnullsnotdistinct, false) AS nulls_not_distinct
        FROM pg_constraint c
        JOIN pg_class cl ON cl.oid = c.conrelid
        JOIN pg_namespace n ON n.oid = cl.relnamespace
        LEFT JOIN pg_class ref ON ref.oid = c.confrelid
        LEFT JOIN pg_index i ON i.indexrelid = c.conindid AND c.contype = 'u'
        WHERE n.nspname = 'public'
        """
    )
    in_database = {(row["table_name"], row["conname"]): row for row in rows}
    ours = _our_tablenames()

    piccolo_fks = [
        (table._meta.tablename, [column._meta.db_column_name])
        for table in _piccolo_tables()
        for column in table._meta.foreign_key_columns
    ]
    mirrored_uniques = set()
    problems = []
    for table in _piccolo_tables():
        tablename = table._meta.tablename
        for constraint in table._meta.constraints:
            name = constraint._meta.name
            row = in_database.get((tablename, name))
            if isinstance(constraint, Unique):
                mirrored_uniques.add((tablename, name))
                expected = ("u", constraint.get_column_names(), not constraint.nulls_distinct)
                found = row and (row["kind"], row["columns"], row["nulls_not_distinct"])
                if found != expected:
                    problems.append(f"{tablename}.{name}: Piccolo {expected}, database {found}")
            elif isinstance(constraint, Check) and (row is None or row["kind"] != "c"):
                problems.append(f"{tablename}.{name}: no such CHECK in the database")
        for column in table._meta.foreign_key_columns:
            fk = _fk_of(rows, tablename, column)
            expected_fk = (
                column._foreign_key_meta.resolved_references._meta.tablename,
                _ON_DELETE[column._foreign_key_meta.on_delete.value],
            )
            if fk != expected_fk:
                problems.append(
                    f"{tablename}.{column._meta.name}: Piccolo {expected_fk}, database {fk}"
                )

    for row in rows:
        if row["table_name"] not in ours:
            continue
        if row["kind"] == "u" and (row["table_name"], row["conname"]) not in mirrored_uniques:
            problems.append(f"{row['table_name']}.{row['conname']}: UNIQUE not mirrored in Piccolo")
        if row["kind"] == "f" and (row["table_name"], row["columns"]) not in piccolo_fks:
            problems.append(f"{row['table_name']}.{row['conname']}: FOREIGN KEY not mirrored")
    assert problems == []


def _fk_of(rows: list[Any], tablename: str, column: ForeignKey[Any]) -> tuple[str, str] | None:
    for row in rows:
        if (
            row["table_name"] == tablename
            and row["kind"] == "f"
            and row["columns"] == [column._meta.db_column_name]
        ):
            return (row["referenced"], row["on_delete"])
    return None


async def test_every_foreign_key_has_an_index_led_by_its_columns(conn: asyncpg.Connection) -> None:
    rows = await conn.fetch(
        """
        SELECT c.conrelid::regclass::text AS table_name, c.conname
        FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE c.contype = 'f' AND n.nspname = 'public'
          AND NOT EXISTS (
              SELECT 1 FROM pg_index i
              WHERE i.indrelid = c.conrelid
                AND i.indpred IS NULL  -- a partial index does not serve every referencing row
                AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(c.conkey)]
                    @> c.conkey
                AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(c.conkey)]
                    <@ c.conkey
          )
        """
    )
    foreign_keys = await conn.fetchval(
        "SELECT count(*) FROM pg_constraint"
        " WHERE contype = 'f' AND connamespace = 'public'::regnamespace"
    )
    assert foreign_keys >= 40  # the query really looked at the schema
    assert [f"{row['table_name']}.{row['conname']}" for row in rows] == []


async def test_every_constraint_and_index_is_named_by_the_convention(
    conn: asyncpg.Connection,
) -> None:
    constraints = await conn.fetch(
        """
        SELECT cl.relname AS table_name, c.conname, c.contype::text AS kind,
               ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(attnum, n)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
                     ORDER BY k.n) AS columns
        FROM pg_constraint c
        JOIN pg_class cl ON cl.oid = c.conrelid
        JOIN pg_namespace n ON n.oid = cl.relnamespace
        WHERE n.nspname = 'public'
        """
    )
    indexes = await conn.fetch(
        """
        SELECT t.relname AS table_name, ix.relname AS index_name, i.indisunique
        FROM pg_index i
        JOIN pg_class ix ON ix.oid = i.indexrelid
        JOIN pg_class t ON t.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE n.nspname = 'public'
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        """
    )
    ours = _our_tablenames()
    wrong = []
    for row in constraints:
        table, name, kind = row["table_name"], row["conname"], row["kind"]
        if table not in ours:
            continue
        # Postgres's own fallback names end in a digit (users_email_key1) or are truncated.
        expected = {
            "p": re.escape(f"{table}_pkey"),
            "f": re.escape(f"{table}_{'_'.join(row['columns'])}_fkey"),
            "u": re.escape(table) + r"_[a-z0-9_]*[a-z0-9]_key",
            "c": re.escape(table) + r"_[a-z0-9_]*[a-z0-9]_check",
            # Postgres 18 records NOT NULL as constraints too, always named like this
            "n": re.escape(f"{table}_{'_'.join(row['columns'])}_not_null"),
        }.get(kind)
        if expected is None or not re.fullmatch(expected, name):
            wrong.append(f"{table}: {name} ({kind})")
    for row in indexes:
        table, name = row["table_name"], row["index_name"]
        suffix = "(idx|key)" if row["indisunique"] else "idx"
        if table in ours and not re.fullmatch(
            re.escape(table) + rf"_[a-z0-9_]*[a-z0-9]_{suffix}", name
        ):
            wrong.append(f"{table}: index {name}")
    assert len(constraints) > 200  # the queries really looked at the schema
    assert wrong == []


# --- rules the database enforces by itself ---------------------------------------------------


async def _insert(conn: asyncpg.Connection, table: str, **values: Any) -> Any:
    """Insert one row and return its first column (the id, for nearly every table)."""
    columns = ", ".join(values)
    placeholders = ", ".join(f"${index}" for index in range(1, len(values) + 1))
    return await conn.fetchval(
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) RETURNING *", *values.values()
    )


async def _user(conn: asyncpg.Connection, *, role: str = "artist") -> UUID:
    oauth_id = uuid.uuid4().hex
    user_id: UUID = await _insert(
        conn,
        "users",
        oauth_provider="google",
        oauth_id=oauth_id,
        email=f"{oauth_id[:12]}@example.com",
        role=role,
    )
    return user_id


async def _artist(conn: asyncpg.Connection, user_id: UUID, stage_name: str) -> UUID:
    artist_id: UUID = await _insert(conn, "artists", user_id=user_id, stage_name=stage_name)
    return artist_id


async def _gig(conn: asyncpg.Connection, venue_id: UUID) -> UUID:
    gig_id: UUID = await _insert(
        conn,
        "gigs",
        venue_id=venue_id,
        title="Friday night",
        venue_name="The Anchor",
        city="Austin",
        state="TX",
        date=date.today() + timedelta(days=10),
        payment_amount=Decimal("250.00"),
        capacity=2,
    )
    return gig_id


async def _conversation(conn: asyncpg.Connection, a: UUID, b: UUID) -> UUID:
    first, second = sorted([a, b])
    conversation_id: UUID = await _insert(
        conn, "conversations", participant_1_id=first, participant_2_id=second
    )
    return conversation_id


async def _violation(conn: asyncpg.Connection, sql: str, *args: Any) -> asyncpg.PostgresError:
    with pytest.raises(asyncpg.IntegrityConstraintViolationError) as caught:
        await conn.execute(sql, *args)
    error: asyncpg.PostgresError = caught.value
    assert error.constraint_name in str(error)
    return error


async def test_a_message_longer_than_2000_characters_is_refused(conn: asyncpg.Connection) -> None:
    alice, bob = await _user(conn), await _user(conn)
    conversation_id = await _conversation(conn, alice, bob)
    insert = "INSERT INTO messages (conversation_id, sender_id, content) VALUES ($1, $2, $3)"

    await conn.execute(insert, conversation_id, alice, "x" * 2000)
    error = await _violation(conn, insert, conversation_id, alice, "x" * 2001)  # D-043

    assert isinstance(error, asyncpg.CheckViolationError)
    assert error.constraint_name == "messages_content_length_check"
    assert await conn.fetchval("SELECT count(*) FROM messages") == 1


@pytest.mark.parametrize("rating", [0, 6])
async def test_a_review_rating_outside_1_to_5_is_refused(
    conn: asyncpg.Connection, rating: int
) -> None:
    artist_id = await _artist(conn, await _user(conn), "Nova")
    insert = "INSERT INTO reviews (artist_id, reviewer_email, rating) VALUES ($1, $2, $3)"

    for accepted in (1, 5):
        await conn.execute(insert, artist_id, "fan@example.com", accepted)
    error = await _violation(conn, insert, artist_id, "fan@example.com", rating)

    assert isinstance(error, asyncpg.CheckViolationError)
    assert error.constraint_name == "reviews_rating_check"


async def test_an_artist_applies_to_a_gig_only_once(conn: asyncpg.Connection) -> None:
    gig_id = await _gig(conn, await _user(conn, role="venue"))
    artist_id = await _artist(conn, await _user(conn), "Nova")
    other_artist_id = await _artist(conn, await _user(conn), "Echo")
    insert = "INSERT INTO gig_applications (gig_id, artist_id) VALUES ($1, $2)"

    await conn.execute(insert, gig_id, artist_id)
    await conn.execute(insert, gig_id, other_artist_id)
    error = await _violation(conn, insert, gig_id, artist_id)  # D-077

    assert isinstance(error, asyncpg.UniqueViolationError)
    assert error.constraint_name == "gig_applications_gig_id_artist_id_key"


async def test_only_apple_and_google_sign_in(conn: asyncpg.Connection) -> None:
    insert = "INSERT INTO users (oauth_provider, oauth_id, email) VALUES ($1, $2, $3)"

    await conn.execute(insert, "apple", "a-1", "a@example.com")
    await conn.execute(insert, "google", "g-1", "g@example.com")
    error = await _violation(conn, insert, "github", "gh-1", "gh@example.com")  # D-001

    assert isinstance(error, asyncpg.CheckViolationError)
    assert error.constraint_name == "users_oauth_provider_check"


# --- D-102: deleting a user deletes everything they own ----------------------------------------


async def test_deleting_a_user_removes_everything_they_own(conn: asyncpg.Connection) -> None:
    now = datetime.now(UTC)
    gone: dict[str, UUID] = {}  # must disappear with the user
    kept: dict[str, tuple[str, UUID]] = {}  # must survive: table and id

    leaving = gone["user"] = await _user(conn)
    staying = await _user(conn)
    kept["other user"] = ("users", staying)
    artist = gone["artist"] = await _artist(conn, leaving, "Leaving")
    other_artist = await _artist(conn, staying, "Staying")
    kept["other artist"] = ("artists", other_artist)

    await _insert(
        conn, "sessions", token_hash="a" * 64, user_id=leaving, expires_at=now + timedelta(days=7)
    )
    gone["track"] = await _insert(
        conn,
        "tracks",
        artist_id=artist,
        title="Song",
        file_key=f"tracks/{artist}/song.mp3",
        size_bytes=1000,
        mime_type="audio/mpeg",
    )
    gone["timeline entry"] = await _insert(
        conn,
        "timeline_entries",
        artist_id=artist,
        entry_type="release",
        occurred_on=date.today(),
        title="EP",
    )
    # both directions of following
    gone["follow of other"] = await _insert(
        conn, "artist_followers", artist_id=other_artist, follower_user_id=leaving
    )
    gone["followed by other"] = await _insert(
        conn, "artist_followers", artist_id=artist, follower_user_id=staying
    )

    # reviews: of the leaving artist (gone) and by the leaving user (kept, anonymised)
    gone["invitation"] = await _insert(
        conn,
        "review_invitations",
        artist_id=artist,
        email="fan@example.com",
        token_hash="b" * 64,
        expires_at=now + timedelta(days=14),
    )
    gone["review received"] = await _insert(
        conn,
        "reviews",
        artist_id=artist,
        reviewer_user_id=staying,
        reviewer_email="s@example.com",
        rating=5,
    )
    other_gig = await _gig(conn, staying)
    kept["other gig"] = ("gigs", other_gig)
    review_given = await _insert(
        conn,
        "reviews",
        artist_id=other_artist,
        reviewer_user_id=leaving,
        reviewer_email="leaving@example.com",
        rating=4,
        gig_id=other_gig,
    )
    kept["review given"] = ("reviews", review_given)

    # the leaving user's gig as a venue, with the other artist's application and favorite
    gig = gone["gig"] = await _gig(conn, leaving)
    gone["application to own gig"] = await _insert(
        conn, "gig_applications", gig_id=gig, artist_id=other_artist
    )
    gone["favorite of own gig"] = await _insert(
        conn, "gig_favorites", gig_id=gig, artist_id=other_artist
    )
    gone["application elsewhere"] = await _insert(
        conn, "gig_applications", gig_id=other_gig, artist_id=artist
    )
    gone["favorite elsewhere"] = await _insert(
        conn, "gig_favorites", gig_id=other_gig, artist_id=artist
    )

    conversation = gone["conversation"] = await _conversation(conn, leaving, staying)
    gone["message sent"] = await _insert(
        conn, "messages", conversation_id=conversation, sender_id=leaving, content="hi"
    )
    gone["message received"] = await _insert(
        conn, "messages", conversation_id=conversation, sender_id=staying, content="hello"
    )

    folder = gone["folder"] = await _insert(conn, "folders", artist_id=artist, name="Press")
    subfolder = gone["subfolder"] = await _insert(
        conn, "folders", artist_id=artist, parent_folder_id=folder, name="2026"
    )
    gone["file"] = await _insert(
        conn,
        "files",
        artist_id=artist,
        folder_id=subfolder,
        filename="photo.jpg",
        s3_key=f"files/{artist}/{subfolder}/photo.jpg",
        size_bytes=2048,
        mime_type="image/jpeg",
        category="press_photo",
    )
    await _insert(conn, "storage_quotas", artist_id=artist, used_bytes=3048)
    gone["pending upload"] = await _insert(
        conn,
        "pending_uploads",
        user_id=leaving,
        purpose="file",
        s3_key=f"uploads/{uuid.uuid4()}.pdf",
        target_key=f"files/{artist}/{folder}/next.pdf",
        declared_mime="application/pdf",
        declared_size=10,
        folder_id=folder,
        expires_at=now + timedelta(minutes=15),
    )

    contact_list = gone["contact list"] = await _insert(
        conn, "contact_lists", artist_id=artist, name="Fans"
    )
    member = gone["member"] = await _insert(
        conn,
        "contact_list_members",
        list_id=contact_list,
        email="fan@example.com",
        phone="+15125550100",
        email_opt_in=True,
    )
    broadcast = gone["broadcast"] = await _insert(
        conn,
        "broadcast_messages",
        artist_id=artist,
        subject="New EP",
        body="Out now",
        channels="email",
    )
    await _insert(conn, "broadcast_lists", broadcast_id=broadcast, list_id=contact_list)
    gone["delivery"] = await _insert(
        conn,
        "broadcast_deliveries",
        broadcast_id=broadcast,
        member_id=member,
        channel="email",
        address="fan@example.com",
    )
    gone["suppression"] = await _insert(
        conn,
        "fan_suppressions",
        artist_id=artist,
        channel="sms",
        address="+15125550101",
        reason="stop",
    )

    gone["journal entry"] = await _insert(
        conn, "journal_entries", artist_id=artist, title="Day one"
    )
    gone["goal"] = await _insert(
        conn, "goals", artist_id=artist, title="Ten gigs", goal_type="gigs", target_value=10
    )
    gone["daily metrics"] = await _insert(
        conn, "daily_metrics", artist_id=artist, date=date.today() - timedelta(days=1)
    )
    await _insert(conn, "profile_view_counts", artist_id=artist, date=date.today(), views=3)
    gone["violet usage"] = await _insert(
        conn, "violet_usage", artist_id=artist, feature="songwriting", prompt="a chorus about rain"
    )
    gone["notification"] = await _insert(
        conn,
        "notifications",
        user_id=leaving,
        kind="welcome",
        channel="email",
        recipient="l@example.com",
    )

    await conn.execute("DELETE FROM users WHERE id = $1", leaving)

    # No uuid column of any table still holds an id of what was deleted: neither the rows
    # themselves nor anything pointing at them (the composite-key rows point at the artist).
    uuid_columns = await conn.fetch(
        """
        SELECT c.relname, a.attname FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0
          AND NOT a.attisdropped AND a.atttypid = 'uuid'::regtype
        """
    )
    assert len(uuid_columns) > 50
    leftovers = {}
    for row in uuid_columns:
        count = await conn.fetchval(
            f'SELECT count(*) FROM "{row["relname"]}" WHERE "{row["attname"]}" = ANY($1::uuid[])',
            list(gone.values()),
        )
        if count:
            leftovers[f"{row['relname']}.{row['attname']}"] = count
    assert leftovers == {}

    for what, (table, row_id) in kept.items():
        assert await conn.fetchval(f"SELECT count(*) FROM {table} WHERE id = $1", row_id) == 1, what
    # the review they wrote stays on the other artist's profile, no longer linked to them
    anonymised = await conn.fetchrow(
        "SELECT reviewer_user_id, rating FROM reviews WHERE id = $1", review_given
    )
    assert dict(anonymised) == {"reviewer_user_id": None, "rating": 4}
