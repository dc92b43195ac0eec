"""The tables of the reviews domain: invitations to review an artist, and both kinds of review."""

from __future__ import annotations

from piccolo.columns import UUID, ForeignKey, OnDelete, SmallInt, Text, Timestamptz, Varchar
from piccolo.constraints import Check, Unique
from piccolo.table import Table

from umbrella.accounts.tables import User
from umbrella.artists.tables import Artist
from umbrella.gigs.tables import Gig


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
    gig_id = ForeignKey(references=Gig, on_delete=OnDelete.set_null, null=True, default=None)
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
