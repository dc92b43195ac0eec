from piccolo.columns import (
    UUID,
    Boolean,
    ForeignKey,
    OnDelete,
    SmallInt,
    Timestamptz,
    Varchar,
)
from piccolo.constraints import Check, Unique
from piccolo.table import Table

OAUTH_PROVIDERS = ("apple", "google")  # D-001: no passwords
ROLES = ("artist", "venue", "admin")


class User(Table, tablename="users"):
    """Someone who signs in: an artist, a venue or an admin."""

    id = UUID(primary_key=True)
    oauth_provider = Varchar(length=16, null=True, default=None)
    oauth_id = Varchar(length=255, null=True, default=None)
    email = Varchar(length=320, null=True, default=None)
    display_name = Varchar(length=100, null=True, default=None)
    phone = Varchar(length=16, null=True, default=None)
    role = Varchar(length=16, default="artist")
    onboarding_complete = Boolean(default=False)
    onboarding_step = SmallInt(default=0)
    role_chosen_at = Timestamptz(null=True, default=None)
    notify_email = Boolean(default=True)
    notify_sms = Boolean(default=True)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    last_login_at = Timestamptz(null=True, default=None)

    users_oauth_key = Unique(["oauth_provider", "oauth_id"])
    users_email_key = Unique(["email"])
    users_oauth_provider_check = Check("oauth_provider IN ('apple', 'google')")
    users_role_check = Check("role IN ('artist', 'venue', 'admin')")


class Session(Table, tablename="sessions"):
    """A signed-in device; only the SHA-256 of the token is stored."""

    token_hash = Varchar(length=64, primary_key=True)
    user_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    revoked_at = Timestamptz(null=True, default=None)
    user_agent = Varchar(length=512, null=True, default=None)


class OAuthState(Table, tablename="oauth_states"):
    """A sign-in in flight (D-001): found by the SHA-256 of its state, used once, 10 minutes."""

    state_hash = Varchar(length=64, primary_key=True)
    provider = Varchar(length=16)
    nonce = Varchar(length=128)
    code_verifier = Varchar(length=128)
    # SHA-256 of the random value in the browser's sign-in cookie: the callback must match it.
    browser_hash = Varchar(length=64)
    created_at = Timestamptz()
    expires_at = Timestamptz()

    oauth_states_provider_check = Check("provider IN ('apple', 'google')")
