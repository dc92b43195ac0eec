from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from piccolo.columns import (
    UUID,
    Array,
    BigInt,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    OnDelete,
    SmallInt,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.reference import LazyTableReference
from piccolo.constraints import Check, Unique
from piccolo.table import Table

from umbrella.accounts.tables import User

if TYPE_CHECKING:
    from umbrella.gigs.tables import Gig

TIMELINE_ENTRY_TYPES = ("gig", "release", "milestone", "other")


class Artist(Table, tablename="artists"):
    """An artist's profile: the onboarding answers, links, media and running totals."""

    id = UUID(primary_key=True)
    user_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    stage_name = Varchar(length=100)
    legal_name = Varchar(length=200, null=True, default=None)
    pronouns = Varchar(length=50, null=True, default=None)
    city = Varchar(length=100, null=True, default=None)
    state = Varchar(length=100, null=True, default=None)
    country = Varchar(length=100, null=True, default=None)
    bio = Text(null=True, default=None)
    story = Text(null=True, default=None)
    tagline = Varchar(length=160, null=True, default=None)
    primary_genre = Varchar(length=50, null=True, default=None)
    secondary_genres = Array(base_column=Varchar(length=50))
    influences = Array(base_column=Varchar(length=100))
    performance_types = Array(base_column=Varchar(length=50))
    equipment = Array(base_column=Varchar(length=100))
    daw = Varchar(length=100, null=True, default=None)
    platforms = Array(base_column=Varchar(length=50))
    flat_rate = Numeric(digits=(12, 2), null=True, default=None)
    hourly_rate = Numeric(digits=(12, 2), null=True, default=None)
    rates_negotiable = Boolean(default=False)
    travel_radius_miles = Integer(null=True, default=None)
    available_weekdays = Boolean(default=False)
    available_weekends = Boolean(default=False)
    advance_booking_weeks = SmallInt(null=True, default=None)
    years_performing = SmallInt(null=True, default=None)
    biggest_gig = Text(null=True, default=None)
    dream_collaboration = Text(null=True, default=None)
    makes_music = Boolean(null=True, default=None)
    confident_online = Boolean(null=True, default=None)
    struggles_niche = Boolean(null=True, default=None)
    knows_gig_sources = Boolean(null=True, default=None)
    paid_fairly = Boolean(null=True, default=None)
    understands_royalties = Boolean(null=True, default=None)
    website_url = Varchar(length=500, null=True, default=None)
    instagram_url = Varchar(length=500, null=True, default=None)
    tiktok_url = Varchar(length=500, null=True, default=None)
    youtube_url = Varchar(length=500, null=True, default=None)
    spotify_url = Varchar(length=500, null=True, default=None)
    apple_music_url = Varchar(length=500, null=True, default=None)
    soundcloud_url = Varchar(length=500, null=True, default=None)
    bandcamp_url = Varchar(length=500, null=True, default=None)
    facebook_url = Varchar(length=500, null=True, default=None)
    twitter_url = Varchar(length=500, null=True, default=None)
    verified = Boolean(default=False)
    avatar_url = Varchar(length=1024, null=True, default=None)
    banner_url = Varchar(length=1024, null=True, default=None)
    avg_rating = Numeric(digits=(3, 2), default=Decimal("0"))
    total_reviews = Integer(default=0)
    total_gigs = Integer(default=0)
    total_earnings = Numeric(digits=(12, 2), default=Decimal("0"))
    profile_views = BigInt(default=0)
    follower_count = Integer(default=0)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    # IANA zone; fan texts' quiet hours fall back to it (docs/broadcasts.md).
    timezone = Varchar(length=64, null=True, default=None)

    artists_user_id_key = Unique(["user_id"])
    artists_stage_name_check = Check("char_length(btrim(stage_name)) >= 1")
    artists_flat_rate_check = Check("flat_rate >= 0")
    artists_hourly_rate_check = Check("hourly_rate >= 0")
    artists_travel_radius_miles_check = Check("travel_radius_miles >= 0")
    artists_advance_booking_weeks_check = Check("advance_booking_weeks >= 0")
    artists_years_performing_check = Check("years_performing >= 0")
    artists_avg_rating_check = Check("avg_rating BETWEEN 0 AND 5")
    artists_total_reviews_check = Check("total_reviews >= 0")
    artists_total_gigs_check = Check("total_gigs >= 0")
    artists_total_earnings_check = Check("total_earnings >= 0")
    artists_profile_views_check = Check("profile_views >= 0")
    artists_follower_count_check = Check("follower_count >= 0")


class ArtistFollower(Table, tablename="artist_followers"):
    """A user following an artist."""

    id = UUID(primary_key=True)
    artist_id = ForeignKey(references=Artist, on_delete=OnDelete.cascade, null=False)
    follower_user_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    created_at = Timestamptz()

    artist_followers_artist_id_follower_user_id_key = Unique(["artist_id", "follower_user_id"])


class Track(Table, tablename="tracks"):
    """A portfolio track: an uploaded file and/or streaming links, in display order."""

    id = UUID(primary_key=True)
    artist_id = ForeignKey(references=Artist, on_delete=OnDelete.cascade, null=False)
    title = Varchar(length=200)
    genre = Varchar(length=50, null=True, default=None)
    duration_seconds = Integer(null=True, default=None)
    file_key = Varchar(length=1024, null=True, default=None)
    size_bytes = BigInt(null=True, default=None)
    mime_type = Varchar(length=100, null=True, default=None)
    spotify_url = Varchar(length=500, null=True, default=None)
    apple_music_url = Varchar(length=500, null=True, default=None)
    soundcloud_url = Varchar(length=500, null=True, default=None)
    display_order = Integer(default=0)
    play_count = BigInt(default=0)
    created_at = Timestamptz()
    updated_at = Timestamptz()

    tracks_file_key_key = Unique(["file_key"])
    tracks_title_check = Check("char_length(btrim(title)) >= 1")
    tracks_duration_seconds_check = Check("duration_seconds >= 0")
    tracks_file_check = Check(
        "(file_key IS NULL) = (size_bytes IS NULL) AND (file_key IS NULL) = (mime_type IS NULL)"
    )
    tracks_size_bytes_check = Check("size_bytes >= 0")
    tracks_display_order_check = Check("display_order >= 0")
    tracks_play_count_check = Check("play_count >= 0")


class ReviewInvitation(Table, tablename="review_invitations"):
    """A single-use invitation for an email address to review an artist (D-032)."""

    id = UUID(primary_key=True)
    artist_id = ForeignKey(references=Artist, on_delete=OnDelete.cascade, null=False)
    email = Varchar(length=320)
    token_hash = Varchar(length=64)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    used_at = Timestamptz(null=True, default=None)

    review_invitations_token_hash_key = Unique(["token_hash"])
    review_invitations_email_lowercase_check = Check("email = lower(email)")
    review_invitations_token_hash_check = Check("token_hash ~ '^[0-9a-f]{64}$'")
    review_invitations_expiry_check = Check("expires_at > created_at")


class Review(Table, tablename="reviews"):
    """A rating of an artist, unmoderated (D-034), by a user or an invited email."""

    id = UUID(primary_key=True)
    artist_id = ForeignKey(references=Artist, on_delete=OnDelete.cascade, null=False)
    reviewer_user_id = ForeignKey(
        references=User, on_delete=OnDelete.set_null, null=True, default=None
    )
    reviewer_email = Varchar(length=320, null=True, default=None)
    reviewer_name = Varchar(length=100, null=True, default=None)
    rating = SmallInt()
    comment = Text(null=True, default=None)
    # Lazy: gigs import artists (applications), so artists cannot import gigs.
    gig_id: ForeignKey[Gig] = ForeignKey(
        references=LazyTableReference("Gig", module_path="umbrella.gigs.tables"),
        on_delete=OnDelete.set_null,
        null=True,
        default=None,
    )
    invitation_id = ForeignKey(
        references=ReviewInvitation, on_delete=OnDelete.set_null, null=True, default=None
    )
    created_at = Timestamptz()

    reviews_invitation_id_key = Unique(["invitation_id"])
    # D-034: after a completed gig its venue reviews each booked artist once.
    reviews_gig_id_artist_id_key = Unique(["gig_id", "artist_id"])
    reviews_rating_check = Check("rating BETWEEN 1 AND 5")
    reviews_comment_length_check = Check("char_length(comment) <= 2000")
    reviews_reviewer_email_lowercase_check = Check("reviewer_email = lower(reviewer_email)")
    reviews_reviewer_check = Check("reviewer_user_id IS NOT NULL OR reviewer_email IS NOT NULL")


class TimelineEntry(Table, tablename="timeline_entries"):
    """A dated moment of an artist's career shown on their profile."""

    id = UUID(primary_key=True)
    artist_id = ForeignKey(references=Artist, on_delete=OnDelete.cascade, null=False)
    entry_type = Varchar(length=16)
    occurred_on = Date()
    title = Varchar(length=200)
    description = Text(null=True, default=None)
    created_at = Timestamptz()

    timeline_entries_entry_type_check = Check(
        "entry_type IN ('gig', 'release', 'milestone', 'other')"
    )
    timeline_entries_title_check = Check("char_length(btrim(title)) >= 1")
