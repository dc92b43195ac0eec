"""The venue card from a summary table: browsing reads one row per venue, not all its gigs."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-02T16:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "venue_stats: each venue's card numbers, refreshed by the venue-stats job"

FORWARDS = [
    # Aggregating a big venue's 10k-37k gigs on every browse page cost ~240 ms; the
    # venue-stats job (every 15 minutes) sums them up here instead (docs/marketplace.md).
    # Reviews are summed here too: their index holds no rating, so a live average reads one
    # heap row per review, and a venue's reviews grow with its gigs.
    """
    CREATE TABLE venue_stats (
        venue_id uuid NOT NULL,
        completed_gigs integer NOT NULL DEFAULT 0,
        past_gigs integer NOT NULL DEFAULT 0,
        typical_pay numeric(12, 2),
        avg_rating numeric(3, 2),
        total_reviews integer NOT NULL DEFAULT 0,
        refreshed_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT venue_stats_pkey PRIMARY KEY (venue_id),
        CONSTRAINT venue_stats_venue_id_fkey FOREIGN KEY (venue_id)
            REFERENCES users (id) ON DELETE CASCADE,
        CONSTRAINT venue_stats_counts_check
            CHECK (completed_gigs >= 0 AND completed_gigs <= past_gigs AND total_reviews >= 0)
    )
    """,
]

BACKWARDS = ["DROP TABLE venue_stats"]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="gigs",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
