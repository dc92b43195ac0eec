"""Users and sessions."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-11-22T10:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "users and sessions"

FORWARDS = [
    """
    CREATE TABLE users (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        oauth_provider varchar(16),
        oauth_id varchar(255),
        email varchar(320),
        display_name varchar(100),
        phone varchar(16),
        role varchar(16) NOT NULL DEFAULT 'artist',
        onboarding_complete boolean NOT NULL DEFAULT false,
        onboarding_step smallint NOT NULL DEFAULT 0,
        notify_email boolean NOT NULL DEFAULT true,
        notify_sms boolean NOT NULL DEFAULT true,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        last_login_at timestamptz,
        CONSTRAINT users_pkey PRIMARY KEY (id),
        CONSTRAINT users_oauth_key UNIQUE (oauth_provider, oauth_id),
        CONSTRAINT users_email_key UNIQUE (email),
        CONSTRAINT users_oauth_provider_check CHECK (oauth_provider IN ('apple', 'google')),
        -- an operator may create a venue by email; it is linked to Apple/Google at first sign-in
        CONSTRAINT users_oauth_pair_check CHECK ((oauth_provider IS NULL) = (oauth_id IS NULL)),
        CONSTRAINT users_identity_check CHECK (oauth_id IS NOT NULL OR email IS NOT NULL),
        CONSTRAINT users_email_lowercase_check CHECK (email = lower(email)),
        CONSTRAINT users_phone_e164_check CHECK (phone ~ '^\\+[1-9][0-9]{6,14}$'),
        CONSTRAINT users_role_check CHECK (role IN ('artist', 'venue', 'admin')),
        CONSTRAINT users_onboarding_step_check CHECK (onboarding_step BETWEEN 0 AND 5)
    )
    """,
    "CREATE INDEX users_role_idx ON users (role)",
    """
    CREATE TABLE sessions (
        token_hash varchar(64) NOT NULL,
        user_id uuid NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        revoked_at timestamptz,
        user_agent varchar(512),
        CONSTRAINT sessions_pkey PRIMARY KEY (token_hash),
        CONSTRAINT sessions_user_id_fkey FOREIGN KEY (user_id)
            REFERENCES users (id) ON DELETE CASCADE,
        CONSTRAINT sessions_token_hash_check CHECK (token_hash ~ '^[0-9a-f]{64}$'),
        CONSTRAINT sessions_expiry_check CHECK (expires_at > created_at)
    )
    """,
    "CREATE INDEX sessions_user_id_idx ON sessions (user_id)",
    "CREATE INDEX sessions_expires_at_idx ON sessions (expires_at)",
]

BACKWARDS = ["DROP TABLE sessions", "DROP TABLE users"]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="accounts",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
