from decimal import Decimal

from piccolo.columns import UUID, BigInt, Date, ForeignKey, Integer, Numeric, OnDelete, Timestamptz
from piccolo.constraints import Check, Unique
from piccolo.table import Table

from umbrella.artists.tables import Artist


class DailyMetric(Table, tablename="daily_metrics"):
    """One artist's numbers for one UTC day, written by the midnight batch (D-008)."""

    id = UUID(primary_key=True)
    artist_id = ForeignKey(references=Artist, on_delete=OnDelete.cascade, null=False)
    date = Date()
    earnings = Numeric(digits=(12, 2), default=Decimal("0"))
    gigs_completed = Integer(default=0)
    profile_views = Integer(default=0)
    followers = Integer(default=0)
    avg_rating = Numeric(digits=(3, 2), null=True, default=None)
    track_plays = BigInt(default=0)
    created_at = Timestamptz()
    updated_at = Timestamptz()

    daily_metrics_artist_id_date_key = Unique(["artist_id", "date"])
    daily_metrics_earnings_check = Check("earnings >= 0")
    daily_metrics_gigs_completed_check = Check("gigs_completed >= 0")
    daily_metrics_profile_views_check = Check("profile_views >= 0")
    daily_metrics_followers_check = Check("followers >= 0")
    daily_metrics_avg_rating_check = Check("avg_rating BETWEEN 0 AND 5")
    daily_metrics_track_plays_check = Check("track_plays >= 0")


class ProfileViewCount(Table, tablename="profile_view_counts"):
    """Profile views of one artist on one UTC day; the key is (artist_id, date)."""

    # Piccolo needs a single primary-key column; the real key is the pair.
    artist_id = ForeignKey(
        references=Artist, on_delete=OnDelete.cascade, null=False, primary_key=True
    )
    date = Date()
    views = Integer(default=0)
    updated_at = Timestamptz()

    profile_view_counts_views_check = Check("views >= 0")


class TrackPlayCount(Table, tablename="track_play_counts"):
    """Track plays of one artist on one UTC day, booked by a trigger on tracks.play_count."""

    # Piccolo needs a single primary-key column; the real key is the pair.
    artist_id = ForeignKey(
        references=Artist, on_delete=OnDelete.cascade, null=False, primary_key=True
    )
    date = Date()
    plays = BigInt(default=0)
    updated_at = Timestamptz()

    track_play_counts_plays_check = Check("plays >= 0")
