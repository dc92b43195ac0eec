"""Stairway: every migration applies, rolls back to exactly the schema before it, and re-applies."""

from __future__ import annotations

from typing import Any

import asyncpg
from piccolo.apps.migrations.commands.base import BaseMigrationManager

from tests.conftest import Servers, make_settings
from umbrella.core import db
from umbrella.core.migrations import forward_one, migrate, rollback_one
from umbrella.piccolo_conf import APP_REGISTRY

# What the database holds in the public schema, by kind of object.
_SNAPSHOT_QUERIES = {
    "relations": """
        SELECT c.relname, c.relkind::text
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public'
    """,
    "columns": """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid)
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
    """,
    "constraints": """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE n.nspname = 'public'
    """,
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public'
    """,
    "types": """
        SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd', 'c')
          AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)
    """,
    "triggers": """
        SELECT tgrelid::regclass::text, tgname FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND NOT t.tgisinternal
    """,
}

# Apps whose tables other apps' migrations created, before these apps owned them (history does
# not move: migrations/<app>/README.md): nothing of their own to walk yet.
APPS_WITHOUT_MIGRATIONS = {"broadcasts", "follows", "portfolio", "reviews", "storage"}

# Piccolo's own bookkeeping: created on first use, never rolled back.
_PICCOLO_OBJECTS = {("migration", "r"), ("migration_id_seq", "S"), ("migration_pkey", "i")}


async def _snapshot(database_url: str) -> dict[str, set[tuple[Any, ...]]]:
    connection = await asyncpg.connect(database_url)
    try:
        snapshot = {}
        for kind, query in _SNAPSHOT_QUERIES.items():
            rows = await connection.fetch(query)
            snapshot[kind] = {tuple(row) for row in rows if row[0] != "migration"}
        snapshot["relations"] -= _PICCOLO_OBJECTS
        return snapshot
    finally:
        await connection.close()


def _difference(
    expected: dict[str, set[tuple[Any, ...]]], actual: dict[str, set[tuple[Any, ...]]]
) -> dict[str, dict[str, set[tuple[Any, ...]]]]:
    """What differs, by kind of object: readable when a rollback leaves something behind."""
    return {
        kind: {"extra": actual[kind] - expected[kind], "missing": expected[kind] - actual[kind]}
        for kind in _SNAPSHOT_QUERIES
        if actual[kind] != expected[kind]
    }


def _migrations_in_order() -> list[tuple[str, str]]:
    """(app, migration id) for every migration: apps by dependency, then by id within an app."""
    manager = BaseMigrationManager()
    steps = []
    for app_name in manager.get_sorted_app_names():
        app_config = APP_REGISTRY.get_app_config(app_name)
        assert app_config is not None
        modules = manager.get_migration_modules(app_config.resolved_migrations_folder_path)
        steps += [(app_name, migration_id) for migration_id in sorted(modules)]
    return steps


async def _applied(database_url: str) -> set[tuple[str, str]]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT app_name, name FROM migration")
        return {(row["app_name"], row["name"]) for row in rows}
    finally:
        await connection.close()


async def test_every_migration_applies_rolls_back_and_applies_again(
    servers: Servers, empty_database_url: str
) -> None:
    settings = make_settings(servers, database_url=empty_database_url)
    db.configure_engine(settings, application_name="umbrella-tests")
    steps = _migrations_in_order()
    # every app with migrations of its own contributes, so the walk covers the whole schema
    assert {app for app, _ in steps} == set(APP_REGISTRY.app_configs) - APPS_WITHOUT_MIGRATIONS

    for app_name, migration_id in steps:
        before = await _snapshot(empty_database_url)

        await forward_one(settings, app_name=app_name)
        assert (app_name, migration_id) in await _applied(empty_database_url)
        applied_once = await _snapshot(empty_database_url)
        assert applied_once != before, f"{app_name}/{migration_id} changed nothing"

        await rollback_one(settings, app_name=app_name)
        assert (app_name, migration_id) not in await _applied(empty_database_url)
        rolled_back = await _snapshot(empty_database_url)
        assert _difference(before, rolled_back) == {}, f"rollback of {app_name}/{migration_id}"

        await forward_one(settings, app_name=app_name)
        applied_twice = await _snapshot(empty_database_url)
        assert _difference(applied_once, applied_twice) == {}, f"{app_name}/{migration_id} again"

    report = await migrate(settings)
    assert report.applied == []
    assert await _applied(empty_database_url) == set(steps)

    for app_name, _ in reversed(steps):
        await rollback_one(settings, app_name=app_name)

    assert await _applied(empty_database_url) == set()
    leftovers = await _snapshot(empty_database_url)
    assert {kind: objects for kind, objects in leftovers.items() if objects} == {}
