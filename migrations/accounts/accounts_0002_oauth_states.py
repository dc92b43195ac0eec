"""Sign-in attempts in flight: state, nonce and PKCE verifier kept server-side (D-001)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-01T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "oauth states"

FORWARDS = [
    """
    CREATE TABLE oauth_states (
        state_hash varchar(64) NOT NULL,
        provider varchar(16) NOT NULL,
        nonce varchar(128) NOT NULL,
        code_verifier varchar(128) NOT NULL,
        browser_hash varchar(64) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        CONSTRAINT oauth_states_pkey PRIMARY KEY (state_hash),
        CONSTRAINT oauth_states_state_hash_check CHECK (state_hash ~ '^[0-9a-f]{64}$'),
        CONSTRAINT oauth_states_browser_hash_check CHECK (browser_hash ~ '^[0-9a-f]{64}$'),
        CONSTRAINT oauth_states_provider_check CHECK (provider IN ('apple', 'google')),
        CONSTRAINT oauth_states_expiry_check CHECK (expires_at > created_at)
    )
    """,
    # the nightly sessions-cleanup deletes the expired ones
    "CREATE INDEX oauth_states_expires_at_idx ON oauth_states (expires_at)",
]

BACKWARDS = ["DROP TABLE oauth_states"]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="accounts",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
