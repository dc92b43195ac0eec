"""The gig word list: typo tolerance for gig searches (docs/search.md, "Typos in gig searches").

`gig_words` holds the distinct words of open upcoming gigs' titles and venue names (85 on the
perf data set, thousands at most in practice), with a GIN trigram index: a misspelt query word
is corrected against this small list, then gigs are found by their stored documents. Titles
repeat ("Thursday Rock Night"), so a trigram scan of the titles themselves listed up to a
quarter of a million gigs per query (84-650 ms at 1,000,000 gigs); `gigs_title_trgm_idx`,
which only that scan read, is dropped, and open gigs' writes stop paying for it.

The list is filled here once and refreshed by the search-words job. Cost, measured on
1,000,000 gigs (480,000 open), Postgres 15, 2 cores: the fill reads every open gig once,
about 0.5 s; dropping the index is instant. Rolling back rebuilds `gigs_title_trgm_idx`
(about 10 s under a SHARE lock: gig writes wait, reads do not).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-12-02T16:00:03:000000"
VERSION = "1.38.0"
DESCRIPTION = "gig_words: words of open gigs' titles and venue names, for typo tolerance"

FORWARDS = [
    """
    CREATE TABLE gig_words (
        word text NOT NULL,
        gigs integer NOT NULL,
        CONSTRAINT gig_words_pkey PRIMARY KEY (word),
        CONSTRAINT gig_words_gigs_check CHECK (gigs > 0)
    )
    """,
    "CREATE INDEX gig_words_word_trgm_idx ON gig_words USING gin (word gin_trgm_ops)",
    # The same words as umbrella.search.service.refresh_gig_words, spelled here because a
    # migration must not change when the service does. 'simple': lower case, no stemming, no
    # stop words, so a correction is a word as written.
    """
    INSERT INTO gig_words (word, gigs)
    SELECT word, sum(n)::integer FROM (
        SELECT coalesce(title, venue_name) AS name, count(*) AS n FROM gigs
        WHERE status = 'open' AND date >= (now() AT TIME ZONE 'UTC')::date
        GROUP BY GROUPING SETS ((title), (venue_name))
    ) AS names
    CROSS JOIN LATERAL unnest(tsvector_to_array(to_tsvector('simple', names.name))) AS word
    GROUP BY word
    """,
    "DROP INDEX gigs_title_trgm_idx",
]

BACKWARDS = [
    "CREATE INDEX gigs_title_trgm_idx ON gigs USING gin (lower(title) gin_trgm_ops)"
    " WHERE status = 'open'",
    "DROP TABLE gig_words",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="search",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
