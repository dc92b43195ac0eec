import secrets

from piccolo.columns import (
    UUID,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    OnDelete,
    SmallInt,
    Text,
    Time,
    Timestamptz,
    Varchar,
)
from piccolo.constraints import Check, Unique
from piccolo.table import Table

from umbrella.accounts.tables import User
from umbrella.artists.tables import Artist

PAYMENT_TYPES = ("flat", "hourly", "negotiable")
GIG_STATUSES = ("open", "filled", "cancelled", "completed")
APPLICATION_STATUSES = ("pending", "accepted", "rejected")


def new_shuffle_key() -> int:
    """A random rank like the column's SQL default; Piccolo inserts send every column."""
    return secrets.randbelow(2_147_483_647)


class Gig(Table, tablename="gigs"):
    """An opportunity a venue posts: when, where, what it pays and how many artists it needs."""

    id = UUID(primary_key=True)
    venue_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    title = Varchar(length=200)
    description = Text(null=True, default=None)
    venue_name = Varchar(length=200)
    city = Varchar(length=100)
    state = Varchar(length=100)
    address = Varchar(length=300, null=True, default=None)
    zip = Varchar(length=10, null=True, default=None)
    date = Date()
    start_time = Time(null=True, default=None)
    end_time = Time(null=True, default=None)
    genre = Varchar(length=50, null=True, default=None)
    payment_amount = Numeric(digits=(12, 2), null=True, default=None)
    payment_type = Varchar(length=16, default="flat")
    capacity = Integer(default=1)
    filled_slots = Integer(default=0)
    urgency_flag = Boolean(default=False)
    status = Varchar(length=16, default="open")
    shuffle_key = Integer(default=new_shuffle_key)
    # D-014: the key before the last daily reshuffle, so a scroll begun then stays stable
    previous_shuffle_key = Integer(default=new_shuffle_key)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    completed_at = Timestamptz(null=True, default=None)
    cancelled_at = Timestamptz(null=True, default=None)

    gigs_title_check = Check("char_length(btrim(title)) >= 1")
    gigs_payment_amount_check = Check("payment_amount >= 0")
    gigs_payment_type_check = Check("payment_type IN ('flat', 'hourly', 'negotiable')")
    gigs_payment_check = Check("payment_type = 'negotiable' OR payment_amount IS NOT NULL")
    gigs_capacity_check = Check("capacity >= 1")
    gigs_filled_slots_check = Check("filled_slots BETWEEN 0 AND capacity")
    gigs_status_check = Check("status IN ('open', 'filled', 'cancelled', 'completed')")
    gigs_open_check = Check("status <> 'open' OR filled_slots < capacity")
    gigs_filled_check = Check("status <> 'filled' OR filled_slots = capacity")
    gigs_completed_at_check = Check("(status = 'completed') = (completed_at IS NOT NULL)")
    gigs_cancelled_at_check = Check("(status = 'cancelled') = (cancelled_at IS NOT NULL)")


class GigApplication(Table, tablename="gig_applications"):
    """An artist's single-click application to a gig (D-077) and the venue's answer."""

    id = UUID(primary_key=True)
    gig_id = ForeignKey(references=Gig, on_delete=OnDelete.cascade, null=False)
    artist_id = ForeignKey(references=Artist, on_delete=OnDelete.cascade, null=False)
    status = Varchar(length=16, default="pending")
    message = Text(null=True, default=None)
    applied_at = Timestamptz()
    viewed_at = Timestamptz(null=True, default=None)
    responded_at = Timestamptz(null=True, default=None)
    earned_amount = Numeric(digits=(12, 2), null=True, default=None)
    updated_at = Timestamptz()
    reminded_at = Timestamptz(null=True, default=None)

    gig_applications_gig_id_artist_id_key = Unique(["gig_id", "artist_id"])
    gig_applications_status_check = Check("status IN ('pending', 'accepted', 'rejected')")
    gig_applications_responded_at_check = Check("(status = 'pending') = (responded_at IS NULL)")
    gig_applications_earned_amount_check = Check("earned_amount >= 0")
    gig_applications_earned_status_check = Check("earned_amount IS NULL OR status = 'accepted'")


class GigShuffle(Table, tablename="gig_shuffles"):
    """The one row counting daily reshuffles: a scroll's cursor names the epoch it began in."""

    id = SmallInt(primary_key=True, default=1)
    epoch = Integer(default=0)
    refreshed_at = Timestamptz()

    gig_shuffles_single_row_check = Check("id = 1")


class GigFavorite(Table, tablename="gig_favorites"):
    """A gig an artist saved for later."""

    id = UUID(primary_key=True)
    gig_id = ForeignKey(references=Gig, on_delete=OnDelete.cascade, null=False)
    artist_id = ForeignKey(references=Artist, on_delete=OnDelete.cascade, null=False)
    created_at = Timestamptz()

    gig_favorites_gig_id_artist_id_key = Unique(["gig_id", "artist_id"])


class VenueReview(Table, tablename="venue_reviews"):
    """An artist's rating of a venue after a completed gig they played (D-034)."""

    id = UUID(primary_key=True)
    gig_id = ForeignKey(references=Gig, on_delete=OnDelete.set_null, null=True, default=None)
    venue_user_id = ForeignKey(references=User, on_delete=OnDelete.cascade, null=False)
    reviewer_artist_id = ForeignKey(
        references=Artist, on_delete=OnDelete.set_null, null=True, default=None
    )
    rating = SmallInt()
    comment = Text(null=True, default=None)
    created_at = Timestamptz()

    venue_reviews_gig_id_reviewer_artist_id_key = Unique(["gig_id", "reviewer_artist_id"])
    venue_reviews_rating_check = Check("rating BETWEEN 1 AND 5")
    venue_reviews_comment_length_check = Check("char_length(comment) <= 2000")
