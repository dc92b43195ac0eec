"""Reviews: invitations (D-032), unmoderated ratings (D-034) and the artist's running totals.

Three ways a review comes in:
- an invitation: the artist invites any email; the link carries a single-use token (only
  its SHA-256 is stored) that expires after 30 days;
- after a completed gig, its venue reviews each artist it booked (a row in `reviews`);
- after a completed gig, each artist it booked reviews the venue (`venue_reviews`).
Every review of an artist re-rates the artist in the same transaction and purges the
cached profile, so `avg_rating` and `total_reviews` always equal the reviews.
"""

from __future__ import annotations

import math
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from redis.asyncio import Redis

from umbrella.accounts.service import hash_token
from umbrella.accounts.tables import User
from umbrella.artists import cache as profile_cache
from umbrella.artists.tables import Artist
from umbrella.config import Settings
from umbrella.core import db
from umbrella.core.caller import Caller
from umbrella.core.errors import Conflict, Forbidden, NotFound, RateLimited, ValidationFailed
from umbrella.core.pagination import Keyset, ListPage, Pager
from umbrella.core.sql import Conditions
from umbrella.gigs import venue_cards
from umbrella.gigs.tables import Gig, GigApplication
from umbrella.notifications import service as notifications
from umbrella.notifications.templates import ReviewInvitationPayload
from umbrella.piccolo_conf import DB
from umbrella.reviews.schemas import (
    GigReviewIn,
    InvitationOut,
    InvitationStatusOut,
    ReviewIn,
    ReviewOut,
    VenueReviewOut,
)
from umbrella.reviews.tables import Review, ReviewInvitation

INVITATION_TTL = timedelta(days=30)
# Each invitation emails a stranger: a bound keeps a hijacked account from spraying email
# through us (D-088 waives spam prevention for messaging, not for mail to non-users).
DAILY_INVITATIONS = 50
INVITATION_WINDOW = timedelta(days=1)
TOKEN_BYTES = 32
# Newest first; the cursor key is `created_at`, as in cursors already handed out.
NEWEST_REVIEWS = Keyset("created_at", "created_at", descending=True, parse=datetime.fromisoformat)


async def refresh_artist_rating(*, artist_id: UUID) -> None:
    """Set `avg_rating` and `total_reviews` from the reviews; run inside the caller's transaction.

    The artist row is locked first, so the recount (a new statement, a new snapshot) sees
    every review committed by a concurrent writer that held the lock before us. The lock is
    NO KEY UPDATE: inserting a review holds KEY SHARE on its artist, which FOR UPDATE would
    wait for, deadlocking two concurrent reviewers of one artist.
    """
    await db.fetch("SELECT id FROM artists WHERE id = $1 FOR NO KEY UPDATE", artist_id)
    await db.fetch(
        "UPDATE artists SET"
        " total_reviews = totals.reviews,"
        " avg_rating = totals.average,"
        " updated_at = now()"
        " FROM (SELECT count(*) AS reviews, coalesce(round(avg(rating), 2), 0) AS average"
        "       FROM reviews WHERE artist_id = $1) AS totals"
        " WHERE artists.id = $2",
        artist_id,
        artist_id,
    )


def _long_date(moment: datetime) -> str:
    return f"{moment:%B} {moment.day}, {moment.year}"


async def create_invitation(
    *, settings: Settings, caller: Caller, email: str, note: str | None
) -> InvitationOut:
    """Invite an email address to review the caller (D-032) and queue the email with the link."""
    # One query for the profile, its name and the account's email, so not caller.require_artist()
    # (a second one); this route answers 403 for anyone without a profile (no 404 documented).
    artist = (
        await Artist.select(Artist.id, Artist.stage_name, Artist.user_id.email)
        .where(Artist.user_id == caller.user_id)
        .first()
    )
    if artist is None:
        raise Forbidden("Only artists can invite reviews. Finish step 1 of onboarding first.")
    email = email.strip().lower()
    if artist["user_id.email"] is not None and email == artist["user_id.email"].lower():
        raise ValidationFailed(
            "Invite someone you worked with: you cannot review yourself.", field="email"
        )
    artist_id: UUID = artist["id"]
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = datetime.now(UTC)
    invitation = ReviewInvitation(
        id=uuid.uuid4(),
        artist_id=artist_id,
        email=email,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + INVITATION_TTL,
    )
    async with DB.transaction():
        # Serialises one artist's invitations, so the daily count cannot be raced past.
        await db.fetch("SELECT id FROM artists WHERE id = $1 FOR NO KEY UPDATE", artist_id)
        window = await db.fetch(
            "SELECT count(*) AS sent, min(created_at) AS oldest FROM review_invitations"
            " WHERE artist_id = $1 AND created_at > $2",
            artist_id,
            now - INVITATION_WINDOW,
        )
        if window[0]["sent"] >= DAILY_INVITATIONS:
            free_at = window[0]["oldest"] + INVITATION_WINDOW
            raise RateLimited(
                f"You can send {DAILY_INVITATIONS} review invitations a day. Try again later.",
                retry_after_seconds=math.ceil((free_at - now).total_seconds()),
            )
        await ReviewInvitation.insert(invitation)
        await notifications.notify_email_address(
            email=email,
            kind="review_invitation",
            payload=ReviewInvitationPayload(
                artist_name=artist["stage_name"],
                # A fragment never leaves the browser: the web app's server never logs the token.
                review_url=f"{settings.app_url.rstrip('/')}/reviews#{token}",
                expires_on=_long_date(invitation.expires_at),
                note=note,
                invitation_id=str(invitation.id),
            ),
        )
    return InvitationOut(
        id=invitation.id,
        email=email,
        created_at=invitation.created_at,
        expires_at=invitation.expires_at,
    )


async def get_invitation(*, token: str) -> InvitationStatusOut:
    """What an invitation link leads to: the artist, its expiry and whether it still works."""
    row = (
        await ReviewInvitation.select(
            ReviewInvitation.artist_id,
            ReviewInvitation.artist_id.stage_name,
            ReviewInvitation.expires_at,
            ReviewInvitation.used_at,
        )
        .where(ReviewInvitation.token_hash == hash_token(token))
        .first()
    )
    if row is None:
        raise NotFound("This review link is not valid.", field="token")
    reason: Any = None
    if row["used_at"] is not None:
        reason = "used"
    elif row["expires_at"] <= datetime.now(UTC):
        reason = "expired"
    return InvitationStatusOut(
        artist_id=row["artist_id"],
        artist_name=row["artist_id.stage_name"],
        expires_at=row["expires_at"],
        usable=reason is None,
        reason=reason,
    )


async def _refused_invitation(token_hash: str) -> Exception:
    """Why a link could not be taken: unknown (404), used (409) or expired (400)."""
    row = (
        await ReviewInvitation.select(ReviewInvitation.used_at)
        .where(ReviewInvitation.token_hash == token_hash)
        .first()
    )
    if row is None:
        return NotFound("This review link is not valid.", field="token")
    if row["used_at"] is not None:
        return Conflict("This review link was already used: it takes one review.", field="token")
    return ValidationFailed(
        "This review link has expired. Ask the artist for a new one.", field="token"
    )


def _review_out(row: dict[str, Any]) -> ReviewOut:
    return ReviewOut(
        id=row["id"],
        artist_id=row["artist_id"],
        rating=row["rating"],
        comment=row["comment"],
        reviewer_name=row["reviewer_name"],
        source="invitation" if row["invitation_id"] is not None else "gig",
        gig_id=row["gig_id"],
        created_at=row["created_at"],
    )


async def create_invited_review(*, redis: Redis, data: ReviewIn) -> ReviewOut:
    """Store the review an invitation link asked for; the link works exactly once."""
    token_hash = hash_token(data.token)
    async with DB.transaction():
        # Conditional and row-locking: of two concurrent submits exactly one takes the link.
        taken = await db.fetch(
            "UPDATE review_invitations SET used_at = now()"
            " WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()"
            " RETURNING id, artist_id, email",
            token_hash,
        )
        if not taken:
            raise await _refused_invitation(token_hash)
        invitation = taken[0]
        row = {
            "id": uuid.uuid4(),
            "artist_id": invitation["artist_id"],
            "rating": data.rating,
            "comment": data.comment,
            "reviewer_name": data.reviewer_name,
            "invitation_id": invitation["id"],
            "gig_id": None,
            "created_at": datetime.now(UTC),
        }
        # The invited address, always: the review must outlive any account (reviews_reviewer_check).
        await Review.insert(Review(**row, reviewer_email=invitation["email"]))
        await refresh_artist_rating(artist_id=invitation["artist_id"])
        await profile_cache.forget_later([invitation["artist_id"]])
    await profile_cache.forget(redis, [invitation["artist_id"]])
    return _review_out(row)


async def _completed_gig(gig_id: UUID) -> dict[str, Any]:
    gig = await Gig.select(Gig.venue_id, Gig.venue_name, Gig.status).where(Gig.id == gig_id).first()
    if gig is None:
        raise NotFound("No such gig.", field="gig_id")
    if gig["status"] != "completed":
        raise Forbidden("Reviews open once the gig is marked completed.", field="gig_id")
    return gig


async def _played(gig_id: UUID, artist_id: UUID) -> bool:
    return bool(
        await GigApplication.exists().where(
            (GigApplication.gig_id == gig_id)
            & (GigApplication.artist_id == artist_id)
            & (GigApplication.status == "accepted")
        )
    )


async def create_artist_gig_review(
    *, redis: Redis, caller: Caller, gig_id: UUID, artist_id: UUID, data: GigReviewIn
) -> ReviewOut:
    """The venue of a completed gig reviews an artist it booked for it, once (D-034)."""
    # Not caller.require_venue(): the rule is being this gig's venue (403 on field gig_id).
    async with DB.transaction():
        gig = await _completed_gig(gig_id)
        if gig["venue_id"] != caller.user_id:
            raise Forbidden("Only the venue of this gig can review its artists.", field="gig_id")
        if not await _played(gig_id, artist_id):
            raise Forbidden("This artist was not booked for this gig.", field="artist_id")
        venue = await User.select(User.email).where(User.id == caller.user_id).first()
        row = {
            "id": uuid.uuid4(),
            "artist_id": artist_id,
            "rating": data.rating,
            "comment": data.comment,
            # The name the venue posted the gig under, as the artist and their fans knew it.
            "reviewer_name": gig["venue_name"],
            "invitation_id": None,
            "gig_id": gig_id,
            "created_at": datetime.now(UTC),
        }
        inserted = await db.fetch(
            "INSERT INTO reviews (id, artist_id, reviewer_user_id, reviewer_email,"
            " reviewer_name, rating, comment, gig_id, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT ON CONSTRAINT reviews_gig_id_artist_id_key DO NOTHING RETURNING id",
            row["id"],
            artist_id,
            caller.user_id,
            # Kept so the review outlives the venue's account (reviews_reviewer_check).
            venue["email"].lower() if venue and venue["email"] else None,
            row["reviewer_name"],
            data.rating,
            data.comment,
            gig_id,
            row["created_at"],
        )
        if not inserted:
            raise Conflict("You already reviewed this artist for this gig.", field="artist_id")
        await refresh_artist_rating(artist_id=artist_id)
        await profile_cache.forget_later([artist_id])
    await profile_cache.forget(redis, [artist_id])
    return _review_out(row)


async def create_venue_gig_review(
    *, caller: Caller, gig_id: UUID, data: GigReviewIn
) -> VenueReviewOut:
    """An artist booked for a completed gig reviews its venue, once (D-034)."""
    # The rule is having played the gig (403 on field gig_id), and the stage name comes
    # with the id in one query: not caller.require_artist().
    artist = (
        await Artist.select(Artist.id, Artist.stage_name)
        .where(Artist.user_id == caller.user_id)
        .first()
    )
    if artist is None:
        raise Forbidden("Only artists who played the gig can review its venue.", field="gig_id")
    async with DB.transaction():
        gig = await _completed_gig(gig_id)
        if not await _played(gig_id, artist["id"]):
            raise Forbidden("You were not booked for this gig.", field="gig_id")
        review_id, now = uuid.uuid4(), datetime.now(UTC)
        inserted = await db.fetch(
            "INSERT INTO venue_reviews"
            " (id, gig_id, venue_user_id, reviewer_artist_id, rating, comment, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT ON CONSTRAINT venue_reviews_gig_id_reviewer_artist_id_key"
            " DO NOTHING RETURNING id",
            review_id,
            gig_id,
            gig["venue_id"],
            artist["id"],
            data.rating,
            data.comment,
            now,
        )
        if not inserted:
            raise Conflict("You already reviewed the venue of this gig.", field="gig_id")
        # The venue card shows the new rating at once, not after the next venue-stats run.
        await venue_cards.update_one_venue_stats(venue_id=gig["venue_id"], on=now.date())
    return VenueReviewOut(
        id=review_id,
        venue_user_id=gig["venue_id"],
        rating=data.rating,
        comment=data.comment,
        gig_id=gig_id,
        reviewer_artist_id=artist["id"],
        reviewer_name=artist["stage_name"],
        created_at=now,
    )


async def list_artist_reviews(
    *, settings: Settings, artist_id: UUID, cursor: str | None, limit: int
) -> ListPage[ReviewOut]:
    """An artist's reviews, newest first (never the reviewers' emails)."""
    if not await Artist.exists().where(Artist.id == artist_id):
        raise NotFound("No such artist.", field="artist_id")
    pager = Pager(settings, "artist_reviews", cursor=cursor, limit=limit, keyset=NEWEST_REVIEWS)
    where = Conditions()
    where.add("r.artist_id = {}", artist_id)
    pager.narrow(where, alias="r")
    rows = await db.fetch(
        "SELECT r.id, r.artist_id, r.rating, r.comment, r.reviewer_name, r.invitation_id,"
        f" r.gig_id, r.created_at FROM reviews r WHERE {where.sql}"
        f" ORDER BY {pager.order_by('r')} LIMIT {where.param(pager.fetch)}",
        *where.values,
    )
    return pager.page(rows, _review_out)


async def list_venue_reviews(
    *, settings: Settings, venue_user_id: UUID, cursor: str | None, limit: int
) -> ListPage[VenueReviewOut]:
    """A venue's reviews by the artists who played its gigs, newest first."""
    if not await User.exists().where((User.id == venue_user_id) & (User.role == "venue")):
        raise NotFound("No such venue.", field="venue_user_id")
    pager = Pager(settings, "venue_reviews", cursor=cursor, limit=limit, keyset=NEWEST_REVIEWS)
    where = Conditions()
    where.add("v.venue_user_id = {}", venue_user_id)
    pager.narrow(where, alias="v")
    # LEFT JOIN: a review outlives its artist (reviewer_artist_id is set null).
    rows = await db.fetch(
        "SELECT v.id, v.venue_user_id, v.rating, v.comment, v.gig_id, v.reviewer_artist_id,"
        " a.stage_name AS reviewer_name, v.created_at"
        " FROM venue_reviews v LEFT JOIN artists a ON a.id = v.reviewer_artist_id"
        f" WHERE {where.sql}"
        f" ORDER BY {pager.order_by('v')} LIMIT {where.param(pager.fetch)}",
        *where.values,
    )
    return pager.page(rows, VenueReviewOut.model_validate)
