"""Browsing a city: its gigs from a city index, when the city has few of them."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-03T07:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "gigs_open_city_date_idx: a city's open gigs with their shuffle keys"

FORWARDS = [
    # The shuffled walk reads index entries until a page of matches: a city with a date
    # window can match one open gig in thousands (8 ms a page at 1,000,000 gigs). This
    # index lists a city's open gigs by date with everything a browse filter and the shuffle
    # order need, so a city's few matches are read from it alone and sorted
    # (docs/performance.md, "Gig browse"). `city` itself is included too: a query naming
    # the column (in lower(city)) gets no index-only scan of an index holding only the
    # expression, and a bitmap of a big city's 85,000 entries took 17 ms before its LIMIT.
    """
    CREATE INDEX gigs_open_city_date_idx ON gigs (lower(city), date)
        INCLUDE (city, shuffle_key, previous_shuffle_key, id, genre, state, payment_amount,
                 urgency_flag)
        WHERE status = 'open'
    """,
    # (city, state) never served a query: every city filter compares lower(city).
    "DROP INDEX gigs_city_state_idx",
]

BACKWARDS = [
    "CREATE INDEX gigs_city_state_idx ON gigs (city, state)",
    "DROP INDEX gigs_open_city_date_idx",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="gigs",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
