"""HTTP handlers: thin, one service call each."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r201, r400, r401, r403, r404, r409, r429

from umbrella import keys
from umbrella.config import Settings
from umbrella.core.pagination import DEFAULT_LIMIT, Limit, page_of
from umbrella.reviews import service
from umbrella.reviews.schemas import (
    GigReviewIn,
    InvitationIn,
    InvitationOut,
    InvitationStatusOut,
    InvitationTokenIn,
    ReviewIn,
    ReviewOut,
    VenueReviewOut,
)
from umbrella.web.envelope import ErrorEnvelope, envelope_of, ok
from umbrella.web.views import ApiView


class InviteView(ApiView):
    async def post(
        self, body: InvitationIn
    ) -> (
        r201[envelope_of(InvitationOut)]
        | r400[ErrorEnvelope]
        | r401[ErrorEnvelope]
        | r403[ErrorEnvelope]
        | r429[ErrorEnvelope]
    ):
        """Invite any email address to review you (D-032): they get a single-use link.

        The link expires after 30 days; at most 50 invitations per artist per 24 hours.

        Tags: reviews
        """
        invitation = await service.create_invitation(
            settings=self.settings,
            caller=self.caller,
            email=str(body.email),
            note=body.note,
        )
        return ok(self.request, invitation, status=201)


class InvitationCheckView(ApiView):
    public = True

    async def post(
        self, body: InvitationTokenIn
    ) -> r200[envelope_of(InvitationStatusOut)] | r400[ErrorEnvelope] | r404[ErrorEnvelope]:
        """Who an invitation link is for, when it expires and whether it still works.

        The token from the link goes in the body, never in a URL (URLs are logged).

        Tags: reviews
        """
        return ok(self.request, await service.get_invitation(token=body.token))


class InvitationReviewView(ApiView):
    public = True

    async def post(
        self, body: ReviewIn
    ) -> (
        r201[envelope_of(ReviewOut)]
        | r400[ErrorEnvelope]
        | r404[ErrorEnvelope]
        | r409[ErrorEnvelope]
    ):
        """Leave the review an invitation asked for (rating 1 to 5, comment up to 2,000).

        Tags: reviews
        """
        review = await service.create_invited_review(
            redis=self.request.config_dict[keys.REDIS], data=body
        )
        return ok(self.request, review, status=201)


class ArtistReviewsView(ApiView):
    public = True

    async def get(
        self,
        artist_id: UUID,
        /,
        cursor: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> r200[envelope_of(page_of(ReviewOut))] | r400[ErrorEnvelope] | r404[ErrorEnvelope]:
        """An artist's reviews, newest first.

        Tags: reviews
        """
        page = await service.list_artist_reviews(
            settings=self.settings, artist_id=artist_id, cursor=cursor, limit=limit
        )
        return ok(self.request, page)


class GigArtistReviewView(ApiView):
    async def post(
        self, gig_id: UUID, artist_id: UUID, /, body: GigReviewIn
    ) -> (
        r201[envelope_of(ReviewOut)]
        | r400[ErrorEnvelope]
        | r403[ErrorEnvelope]
        | r404[ErrorEnvelope]
        | r409[ErrorEnvelope]
    ):
        """The venue reviews an artist it booked, once the gig is completed (once per gig).

        Tags: reviews
        """
        review = await service.create_artist_gig_review(
            redis=self.request.config_dict[keys.REDIS],
            caller=self.caller,
            gig_id=gig_id,
            artist_id=artist_id,
            data=body,
        )
        return ok(self.request, review, status=201)


class GigVenueReviewView(ApiView):
    async def post(
        self, gig_id: UUID, /, body: GigReviewIn
    ) -> (
        r201[envelope_of(VenueReviewOut)]
        | r400[ErrorEnvelope]
        | r403[ErrorEnvelope]
        | r404[ErrorEnvelope]
        | r409[ErrorEnvelope]
    ):
        """An artist booked for the gig reviews its venue, once the gig is completed.

        Tags: reviews
        """
        review = await service.create_venue_gig_review(caller=self.caller, gig_id=gig_id, data=body)
        return ok(self.request, review, status=201)


class VenueReviewsView(ApiView):
    public = True

    async def get(
        self,
        venue_user_id: UUID,
        /,
        cursor: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> r200[envelope_of(page_of(VenueReviewOut))] | r400[ErrorEnvelope] | r404[ErrorEnvelope]:
        """A venue's reviews by the artists who played its gigs, newest first.

        Tags: reviews
        """
        page = await service.list_venue_reviews(
            settings=self.settings, venue_user_id=venue_user_id, cursor=cursor, limit=limit
        )
        return ok(self.request, page)


def routes(settings: Settings) -> list[web.AbstractRouteDef]:
    return [
        web.view("/v1/profile/reviews/invite", InviteView),
        web.view("/v1/reviews/invitations/check", InvitationCheckView),
        web.view("/v1/reviews/invitations/review", InvitationReviewView),
        web.view("/v1/profile/{artist_id}/reviews", ArtistReviewsView),
        web.view("/v1/gigs/{gig_id}/reviews/artist/{artist_id}", GigArtistReviewView),
        web.view("/v1/gigs/{gig_id}/reviews/venue", GigVenueReviewView),
        web.view("/v1/venues/{venue_user_id}/reviews", VenueReviewsView),
    ]
