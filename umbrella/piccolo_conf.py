"""Piccolo's engine and app registry (PICCOLO_CONF=umbrella.piccolo_conf).

Piccolo binds every Table to this engine when the table class is created, so the engine
object must exist at import time. It starts with no connection settings: `core.db`
fills them in from `Settings` before anything touches the database.
"""

from piccolo.conf.apps import AppRegistry

from umbrella.core.db import Engine

# Engine: Piccolo's, with a transaction that gives its connection back even when
# Postgres went away mid-transaction (umbrella/core/db.py).
DB = Engine(config={})

# Order does not matter: each AppConfig names the apps its migrations depend on.
DOMAIN_APPS = (
    "ops",
    "accounts",
    "artists",
    "follows",
    "portfolio",
    "gigs",
    "alerts",
    "reviews",
    "messaging",
    "files",
    "storage",
    "fans",
    "broadcasts",
    "studio",
    "analytics",
    "violet",
    "notifications",
    "calendar",
    "search",
)

APP_REGISTRY = AppRegistry(apps=[f"umbrella.{name}.piccolo_app" for name in DOMAIN_APPS])
