"""Every migration keeps the previous release working (README "Migrations and rolling upgrades").

A migration runs before the new pods start, while the old ones still serve: it may only
expand the schema. A contracting step (drop, rename, type change, a new NOT NULL the old code
does not write) needs a module-level `CONTRACT = "<why no running release needs the old
shape>"`, and goes in a release after the one that stopped using it.
"""

from __future__ import annotations

from types import ModuleType

import pytest
from piccolo.apps.migrations.commands.base import BaseMigrationManager

from tests.migrations.expand_contract import contracting_steps
from umbrella.piccolo_conf import APP_REGISTRY

# Applied before the rule was written down and checked; kept as they are, never edited.
GRANDFATHERED = {
    # Sets pending_uploads.target_key NOT NULL in the step that adds it: during that rollout
    # an upload form signed by a previous-release pod failed to insert until its pods were
    # replaced. Split today, it would add the column nullable, and contract a release later.
    ("files", "2026-12-07T12:00:00:000000"),
}


def _migration_modules() -> list[tuple[str, str, ModuleType]]:
    manager = BaseMigrationManager()
    found = []
    for app_name, app_config in APP_REGISTRY.app_configs.items():
        modules = manager.get_migration_modules(app_config.resolved_migrations_folder_path)
        found += [(app_name, migration_id, module) for migration_id, module in modules.items()]
    return sorted(found, key=lambda found: (found[0], found[1]))


def _forwards_sql(module: ModuleType) -> list[str]:
    forwards = getattr(module, "FORWARDS", None)
    readable = isinstance(forwards, list) and all(isinstance(s, str) for s in forwards)
    assert readable, f"{module.__name__}: FORWARDS must list its SQL, so this rule can read it"
    return forwards  # type: ignore[return-value]


def rule_breach(
    name: str, forwards: list[str], *, contract: object, grandfathered: bool
) -> str | None:
    """Why migration `name` breaks the expand/contract rule, or None when it keeps it."""
    steps = [step for sql in forwards for step in contracting_steps(sql)]
    if grandfathered:
        return None if steps else f"{name} is grandfathered but contracts nothing"
    if contract is not None:
        if not (isinstance(contract, str) and contract.strip()):
            return f"{name}: CONTRACT must say why, in words"
        return None if steps else f"{name} says CONTRACT but contracts nothing"
    if steps:
        return (
            f"{name} breaks the release before it during a rolling upgrade ({'; '.join(steps)}):"
            " expand now and contract in a later release (README), or set CONTRACT = '<why>'"
        )
    return None


@pytest.mark.parametrize(
    ("app_name", "migration_id", "module"),
    _migration_modules(),
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_a_migration_only_expands_the_schema_unless_it_says_why_it_contracts(
    app_name: str, migration_id: str, module: ModuleType
) -> None:
    breach = rule_breach(
        f"{app_name}/{migration_id}",
        _forwards_sql(module),
        contract=getattr(module, "CONTRACT", None),
        grandfathered=(app_name, migration_id) in GRANDFATHERED,
    )
    assert breach is None, breach


def test_a_contracting_migration_passes_only_with_a_reason() -> None:
    drop = ["ALTER TABLE gigs DROP COLUMN legacy_fee"]
    unmarked = rule_breach("gigs/x", drop, contract=None, grandfathered=False)
    assert unmarked is not None
    assert "drops a column on GIGS" in unmarked
    reason = "fee_cents replaced legacy_fee in 1.40; 1.41 reads only fee_cents"
    assert rule_breach("gigs/x", drop, contract=reason, grandfathered=False) is None
    assert rule_breach("gigs/x", drop, contract="  ", grandfathered=False) is not None
    # a marker on a migration that contracts nothing is a stale marker
    add = ["ALTER TABLE gigs ADD COLUMN fee_cents bigint"]
    assert rule_breach("gigs/x", add, contract=reason, grandfathered=False) is not None
    assert rule_breach("gigs/x", add, contract=None, grandfathered=False) is None


def test_the_grandfathered_migrations_exist() -> None:
    known = {(app_name, migration_id) for app_name, migration_id, _ in _migration_modules()}
    assert known >= GRANDFATHERED


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE gigs",
        "drop table if exists gigs cascade",
        "DROP VIEW gig_cards",
        "ALTER TABLE gigs DROP COLUMN title",
        "ALTER TABLE gigs DROP title",
        "ALTER TABLE gigs ADD COLUMN x text, DROP COLUMN IF EXISTS title",
        "ALTER TABLE gigs RENAME COLUMN title TO name",
        "ALTER TABLE gigs RENAME title TO name",
        "ALTER TABLE gigs RENAME TO shows",
        "ALTER TABLE gigs ALTER COLUMN fee TYPE numeric(12, 2)",
        "ALTER TABLE gigs ALTER fee SET DATA TYPE bigint USING fee::bigint",
        "ALTER TABLE gigs ADD COLUMN city_id uuid NOT NULL",
        "ALTER TABLE gigs ADD city_id uuid NOT NULL REFERENCES cities (id)",
        "ALTER TABLE gigs ALTER COLUMN city_id SET NOT NULL",
        "-- a harmless comment first\nALTER TABLE ONLY gigs\n    DROP COLUMN title",
        "/* don't */ ALTER TABLE gigs DROP COLUMN title -- it's gone",
        "CREATE INDEX gigs_x_idx ON gigs (x); ALTER TABLE gigs DROP COLUMN title",
    ],
)
def test_the_checker_refuses_each_contracting_step(sql: str) -> None:
    assert contracting_steps(sql) != []


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE shows (id uuid PRIMARY KEY, title text NOT NULL)",
        "ALTER TABLE gigs ADD COLUMN city_id uuid",
        "ALTER TABLE gigs ADD COLUMN featured boolean NOT NULL DEFAULT false",
        "ALTER TABLE gigs ADD COLUMN IF NOT EXISTS seen_at timestamptz",
        "ALTER TABLE gigs ADD CONSTRAINT gigs_fee_check CHECK (fee IS NOT NULL OR draft)",
        "ALTER TABLE gigs ADD CHECK (fee IS NOT NULL)",
        "ALTER TABLE gigs DROP CONSTRAINT gigs_fee_check",
        "ALTER TABLE gigs ALTER COLUMN fee DROP NOT NULL",
        "ALTER TABLE gigs ALTER COLUMN fee DROP DEFAULT, ALTER COLUMN fee SET DEFAULT 0",
        "ALTER TABLE gigs RENAME CONSTRAINT gigs_a TO gigs_b",
        "ALTER INDEX gigs_a_idx RENAME TO gigs_b_idx",
        "DROP INDEX gigs_a_idx",
        "CREATE INDEX CONCURRENTLY gigs_city_idx ON gigs (city_id)",
        "UPDATE gigs SET title = 'DROP TABLE gigs' WHERE title = ''",
        # a function body is not the migration's own DDL
        "CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN DROP TABLE x; END $$ LANGUAGE plpgsql",
        "COMMENT ON COLUMN gigs.fee IS 'ALTER TABLE gigs DROP COLUMN fee'",
    ],
)
def test_the_checker_lets_expanding_steps_through(sql: str) -> None:
    assert contracting_steps(sql) == []


def test_the_checker_names_the_table_and_the_step() -> None:
    assert contracting_steps("ALTER TABLE gigs ADD COLUMN a text, DROP COLUMN b") == [
        "drops a column on GIGS: DROP COLUMN B"
    ]
