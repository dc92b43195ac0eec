"""Artist profiles, followers, tracks, review invitations, reviews and timeline entries."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from umbrella.core.migrations import sql_migration

ID = "2026-11-22T10:00:02:000000"
VERSION = "1.38.0"
DESCRIPTION = "artists, artist_followers, tracks, review_invitations, reviews, timeline_entries"

FORWARDS = [
    """
    CREATE TABLE artists (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        user_id uuid NOT NULL,
        -- onboarding step 1: identity
        stage_name varchar(100) NOT NULL,
        legal_name varchar(200),
        pronouns varchar(50),
        city varchar(100),
        state varchar(100),
        country varchar(100),
        -- step 2: bio and story
        bio text,
        story text,
        tagline varchar(160),
        -- step 3: creative profile
        primary_genre varchar(50),
        secondary_genres varchar(50)[] NOT NULL DEFAULT '{}',
        influences varchar(100)[] NOT NULL DEFAULT '{}',
        performance_types varchar(50)[] NOT NULL DEFAULT '{}',
        equipment varchar(100)[] NOT NULL DEFAULT '{}',
        daw varchar(100),
        platforms varchar(50)[] NOT NULL DEFAULT '{}',
        -- step 4: rates and availability
        flat_rate numeric(12,2),
        hourly_rate numeric(12,2),
        rates_negotiable boolean NOT NULL DEFAULT false,
        travel_radius_miles integer,
        available_weekdays boolean NOT NULL DEFAULT false,
        available_weekends boolean NOT NULL DEFAULT false,
        advance_booking_weeks smallint,
        -- step 5: quick questions; the yes/no answers stay NULL until answered
        years_performing smallint,
        biggest_gig text,
        dream_collaboration text,
        makes_music boolean,
        confident_online boolean,
        struggles_niche boolean,
        knows_gig_sources boolean,
        paid_fairly boolean,
        understands_royalties boolean,
        -- social links
        website_url varchar(500),
        instagram_url varchar(500),
        tiktok_url varchar(500),
        youtube_url varchar(500),
        spotify_url varchar(500),
        apple_music_url varchar(500),
        soundcloud_url varchar(500),
        bandcamp_url varchar(500),
        facebook_url varchar(500),
        twitter_url varchar(500),
        -- verification, media and counters kept by the services and the daily batch
        verified boolean NOT NULL DEFAULT false,
        avatar_url varchar(1024),
        banner_url varchar(1024),
        avg_rating numeric(3,2) NOT NULL DEFAULT 0,
        total_reviews integer NOT NULL DEFAULT 0,
        total_gigs integer NOT NULL DEFAULT 0,
        total_earnings numeric(12,2) NOT NULL DEFAULT 0,
        profile_views bigint NOT NULL DEFAULT 0,
        follower_count integer NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT artists_pkey PRIMARY KEY (id),
        CONSTRAINT artists_user_id_key UNIQUE (user_id),
        CONSTRAINT artists_user_id_fkey FOREIGN KEY (user_id)
            REFERENCES users (id) ON DELETE CASCADE,
        CONSTRAINT artists_stage_name_check CHECK (char_length(btrim(stage_name)) >= 1),
        CONSTRAINT artists_flat_rate_check CHECK (flat_rate >= 0),
        CONSTRAINT artists_hourly_rate_check CHECK (hourly_rate >= 0),
        CONSTRAINT artists_travel_radius_miles_check CHECK (travel_radius_miles >= 0),
        CONSTRAINT artists_advance_booking_weeks_check CHECK (advance_booking_weeks >= 0),
        CONSTRAINT artists_years_performing_check CHECK (years_performing >= 0),
        CONSTRAINT artists_avg_rating_check CHECK (avg_rating BETWEEN 0 AND 5),
        CONSTRAINT artists_total_reviews_check CHECK (total_reviews >= 0),
        CONSTRAINT artists_total_gigs_check CHECK (total_gigs >= 0),
        CONSTRAINT artists_total_earnings_check CHECK (total_earnings >= 0),
        CONSTRAINT artists_profile_views_check CHECK (profile_views >= 0),
        CONSTRAINT artists_follower_count_check CHECK (follower_count >= 0)
    )
    """,
    # §3.3 artist filters: genre (primary or secondary), location, verified; D-068 spotlight
    # picks verified artists with avg_rating > 4.5.
    "CREATE INDEX artists_primary_genre_idx ON artists (primary_genre)",
    "CREATE INDEX artists_secondary_genres_idx ON artists USING gin (secondary_genres)",
    "CREATE INDEX artists_city_state_idx ON artists (city, state)",
    "CREATE INDEX artists_verified_avg_rating_idx ON artists (verified, avg_rating)",
    """
    CREATE TABLE artist_followers (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        artist_id uuid NOT NULL,
        follower_user_id uuid NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT artist_followers_pkey PRIMARY KEY (id),
        CONSTRAINT artist_followers_artist_id_follower_user_id_key
            UNIQUE (artist_id, follower_user_id),
        CONSTRAINT artist_followers_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        CONSTRAINT artist_followers_follower_user_id_fkey FOREIGN KEY (follower_user_id)
            REFERENCES users (id) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX artist_followers_follower_user_id_idx ON artist_followers (follower_user_id)",
    """
    CREATE TABLE tracks (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        artist_id uuid NOT NULL,
        title varchar(200) NOT NULL,
        genre varchar(50),
        duration_seconds integer,
        -- the uploaded audio (tracks/{artistId}/{trackId}.{ext}); its size counts toward D-026
        file_key varchar(1024),
        size_bytes bigint,
        mime_type varchar(100),
        spotify_url varchar(500),
        apple_music_url varchar(500),
        soundcloud_url varchar(500),
        display_order integer NOT NULL DEFAULT 0,
        play_count bigint NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT tracks_pkey PRIMARY KEY (id),
        CONSTRAINT tracks_file_key_key UNIQUE (file_key),
        CONSTRAINT tracks_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        CONSTRAINT tracks_title_check CHECK (char_length(btrim(title)) >= 1),
        CONSTRAINT tracks_duration_seconds_check CHECK (duration_seconds >= 0),
        CONSTRAINT tracks_file_check CHECK (
            (file_key IS NULL) = (size_bytes IS NULL) AND (file_key IS NULL) = (mime_type IS NULL)
        ),
        CONSTRAINT tracks_size_bytes_check CHECK (size_bytes >= 0),
        CONSTRAINT tracks_display_order_check CHECK (display_order >= 0),
        CONSTRAINT tracks_play_count_check CHECK (play_count >= 0)
    )
    """,
    "CREATE INDEX tracks_artist_id_display_order_idx ON tracks (artist_id, display_order)",
    """
    CREATE TABLE review_invitations (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        artist_id uuid NOT NULL,
        email varchar(320) NOT NULL,
        -- only the SHA-256 of the single-use token is stored (D-032)
        token_hash varchar(64) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        used_at timestamptz,
        CONSTRAINT review_invitations_pkey PRIMARY KEY (id),
        CONSTRAINT review_invitations_token_hash_key UNIQUE (token_hash),
        CONSTRAINT review_invitations_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        CONSTRAINT review_invitations_email_lowercase_check CHECK (email = lower(email)),
        CONSTRAINT review_invitations_token_hash_check CHECK (token_hash ~ '^[0-9a-f]{64}$'),
        CONSTRAINT review_invitations_expiry_check CHECK (expires_at > created_at)
    )
    """,
    "CREATE INDEX review_invitations_artist_id_created_at_idx ON review_invitations (artist_id, created_at DESC)",
    # reviews.gig_id gets its foreign key in the gigs migration: gigs come after artists.
    """
    CREATE TABLE reviews (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        artist_id uuid NOT NULL,
        reviewer_user_id uuid,
        reviewer_email varchar(320),
        reviewer_name varchar(100),
        rating smallint NOT NULL,
        comment text,
        gig_id uuid,
        invitation_id uuid,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT reviews_pkey PRIMARY KEY (id),
        CONSTRAINT reviews_invitation_id_key UNIQUE (invitation_id),
        CONSTRAINT reviews_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        -- a review outlives its author's account, anonymised
        CONSTRAINT reviews_reviewer_user_id_fkey FOREIGN KEY (reviewer_user_id)
            REFERENCES users (id) ON DELETE SET NULL,
        CONSTRAINT reviews_invitation_id_fkey FOREIGN KEY (invitation_id)
            REFERENCES review_invitations (id) ON DELETE SET NULL,
        CONSTRAINT reviews_rating_check CHECK (rating BETWEEN 1 AND 5),
        CONSTRAINT reviews_comment_length_check CHECK (char_length(comment) <= 2000),
        CONSTRAINT reviews_reviewer_email_lowercase_check CHECK (reviewer_email = lower(reviewer_email)),
        -- reviews come from invitations (D-032): store the invited email so that deleting
        -- the reviewer's account (SET NULL above) can never violate this
        CONSTRAINT reviews_reviewer_check CHECK (
            reviewer_user_id IS NOT NULL OR reviewer_email IS NOT NULL
        )
    )
    """,
    "CREATE INDEX reviews_artist_id_created_at_idx ON reviews (artist_id, created_at DESC)",
    "CREATE INDEX reviews_reviewer_user_id_idx ON reviews (reviewer_user_id)",
    "CREATE INDEX reviews_gig_id_idx ON reviews (gig_id)",
    """
    CREATE TABLE timeline_entries (
        id uuid NOT NULL DEFAULT gen_random_uuid(),
        artist_id uuid NOT NULL,
        entry_type varchar(16) NOT NULL,
        occurred_on date NOT NULL,
        title varchar(200) NOT NULL,
        description text,
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT timeline_entries_pkey PRIMARY KEY (id),
        CONSTRAINT timeline_entries_artist_id_fkey FOREIGN KEY (artist_id)
            REFERENCES artists (id) ON DELETE CASCADE,
        CONSTRAINT timeline_entries_entry_type_check CHECK (
            entry_type IN ('gig', 'release', 'milestone', 'other')
        ),
        CONSTRAINT timeline_entries_title_check CHECK (char_length(btrim(title)) >= 1)
    )
    """,
    "CREATE INDEX timeline_entries_artist_id_occurred_on_idx ON timeline_entries (artist_id, occurred_on DESC)",
]

BACKWARDS = [
    "DROP TABLE timeline_entries",
    "DROP TABLE reviews",
    "DROP TABLE review_invitations",
    "DROP TABLE tracks",
    "DROP TABLE artist_followers",
    "DROP TABLE artists",
]


async def forwards() -> MigrationManager:
    return sql_migration(
        migration_id=ID,
        app_name="artists",
        description=DESCRIPTION,
        forwards=FORWARDS,
        backwards=BACKWARDS,
    )
