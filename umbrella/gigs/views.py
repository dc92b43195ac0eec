"""HTTP handlers of the marketplace: thin, one service call each."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, ClassVar, TypeAlias
from uuid import UUID

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r201, r400, r401, r403, r404, r409
from pydantic import BaseModel, Field

from umbrella import keys
from umbrella.artists import service as artists_service
from umbrella.artists.fields import IsoDate, Text100
from umbrella.artists.genres import Genre
from umbrella.config import Settings
from umbrella.core.pagination import DEFAULT_LIMIT, Limit, page_of
from umbrella.gigs import applications, bookings, browse, completion, favorites, service, terms
from umbrella.gigs.schemas import (
    ApplicantOut,
    ApplicationOut,
    ApplicationStatus,
    ApplyIn,
    BookingOut,
    CompleteIn,
    CompletionOut,
    DecisionOut,
    FavoriteGigOut,
    FavoriteOut,
    GigBrowsePage,
    GigCreateIn,
    GigOut,
    GigStatus,
    GigUpdateIn,
    VenueGigOut,
)
from umbrella.web.envelope import ErrorEnvelope, envelope_of, ok
from umbrella.web.views import ApiView

Seed = Annotated[int, Field(ge=0, le=service.SHUFFLE_KEYS - 1)]
Amount = Annotated[Decimal, Field(ge=0, le=Decimal("9999999999.99"))]
# A city or a state, as written in gigs (no NUL: Postgres cannot store it).
Place = Text100

CHANGE_ERRORS: TypeAlias = (
    r400[ErrorEnvelope] | r401[ErrorEnvelope] | r403[ErrorEnvelope] | r404[ErrorEnvelope]
)
LIST_ERRORS: TypeAlias = r400[ErrorEnvelope] | r401[ErrorEnvelope] | r403[ErrorEnvelope]


class _GigsView(ApiView):
    @property
    def reader(self) -> artists_service.ProfileReader:
        return artists_service.ProfileReader.of(self.request.config_dict)


class GigsView(_GigsView):
    async def get(
        self,
        /,
        genre: list[Genre] = [],  # noqa: B006 - aiohttp-pydantic reads a repeated param into a list
        date_from: IsoDate | None = None,
        date_to: IsoDate | None = None,
        city: Place | None = None,
        state: Place | None = None,
        payment_min: Amount | None = None,
        payment_max: Amount | None = None,
        urgent: bool | None = None,
        available: bool = False,
        seed: Seed | None = None,
        cursor: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> r200[envelope_of(GigBrowsePage)] | r400[ErrorEnvelope] | r401[ErrorEnvelope]:
        """Open gigs from today on in a random order (D-014), with manual filters.

        Repeat `genre` for several genres. The first page answers a `seed`; the cursor
        carries it, so one scroll never shows a gig twice or skips one. `available=true`
        (artists only, else 400) hides gigs on the caller's unavailable dates and on the
        days they are already booked.

        Tags: gigs
        """
        page = await browse.list_gigs(
            settings=self.settings,
            caller=self.caller,
            filters=browse.GigFilters(
                genres=tuple(genre),
                date_from=date_from,
                date_to=date_to,
                city=city,
                state=state,
                payment_min=payment_min,
                payment_max=payment_max,
                urgent=urgent,
                available=available,
            ),
            seed=seed,
            cursor=cursor,
            limit=limit,
        )
        return ok(self.request, page)

    async def post(self, body: GigCreateIn) -> r201[envelope_of(VenueGigOut)] | CHANGE_ERRORS:
        """Post a gig (venues only).

        Tags: gigs
        """
        gig = await service.create_gig(
            redis=self.request.config_dict[keys.REDIS],
            caller=self.caller,
            gig=body,
        )
        return ok(self.request, gig, status=201)


class GigView(_GigsView):
    async def get(
        self, gig_id: UUID, /
    ) -> (
        r200[envelope_of(GigOut)] | r400[ErrorEnvelope] | r401[ErrorEnvelope] | r404[ErrorEnvelope]
    ):
        """One gig, with your application and favorite flag (and, for its venue, the counts).

        Tags: gigs
        """
        gig = await service.get_gig(gig_id=gig_id, caller=self.caller)
        return ok(self.request, gig)

    async def put(
        self, gig_id: UUID, /, body: GigUpdateIn
    ) -> r200[envelope_of(VenueGigOut)] | CHANGE_ERRORS | r409[ErrorEnvelope]:
        """Edit your gig: send only the fields to change.

        Tags: gigs
        """
        gig = await service.update_gig(
            redis=self.request.config_dict[keys.REDIS],
            caller=self.caller,
            gig_id=gig_id,
            changes=body,
        )
        return ok(self.request, gig)


class CancelView(_GigsView):
    async def post(
        self, gig_id: UUID, /
    ) -> r200[envelope_of(VenueGigOut)] | CHANGE_ERRORS | r409[ErrorEnvelope]:
        """Cancel your gig (again: no change): applicants and booked artists are told.

        Tags: gigs
        """
        gig = await bookings.cancel_gig(
            settings=self.settings,
            redis=self.request.config_dict[keys.REDIS],
            caller=self.caller,
            gig_id=gig_id,
        )
        return ok(self.request, gig)


class ApplyView(_GigsView):
    optional_bodies: ClassVar[dict[str, type[BaseModel]]] = {"post": ApplyIn}

    async def post(
        self, gig_id: UUID, /
    ) -> (
        r201[envelope_of(ApplicationOut)]
        | r200[envelope_of(ApplicationOut)]
        | CHANGE_ERRORS
        | r409[ErrorEnvelope]
    ):
        """Apply with one click (D-077): your profile, rates and portfolio go to the venue.

        The body is optional: `{"message": "…"}` (at most 1,000 characters) adds a note.
        201 for a new application; a retry answers 200 with the application already made.

        Tags: gigs
        """
        application, created = await applications.create_application(
            settings=self.settings,
            caller=self.caller,
            gig_id=gig_id,
            application=await self.optional_body(ApplyIn),
        )
        return ok(self.request, application, status=201 if created else 200)


class FavoriteView(_GigsView):
    async def post(self, gig_id: UUID, /) -> r200[envelope_of(FavoriteOut)] | CHANGE_ERRORS:
        """Save a gig (again: no change).

        Tags: gigs
        """
        favorite = await favorites.create_favorite(caller=self.caller, gig_id=gig_id)
        return ok(self.request, favorite)

    async def delete(self, gig_id: UUID, /) -> r200[envelope_of(FavoriteOut)] | CHANGE_ERRORS:
        """Forget a saved gig (again: no change).

        Tags: gigs
        """
        favorite = await favorites.delete_favorite(caller=self.caller, gig_id=gig_id)
        return ok(self.request, favorite)


class CompleteView(_GigsView):
    optional_bodies: ClassVar[dict[str, type[BaseModel]]] = {"post": CompleteIn}

    async def post(
        self, gig_id: UUID, /
    ) -> r200[envelope_of(CompletionOut)] | CHANGE_ERRORS | r409[ErrorEnvelope]:
        """Mark the gig played, from its date on (D-080), with the pay earned.

        The body is optional: `{"earned_amount": "250.00"}`. An artist reports their own
        pay (and may correct it later); a venue's amount applies to each artist it booked,
        and without one a flat-rate gig's pay is assumed.

        Tags: gigs
        """
        completed = await completion.complete_gig(
            settings=self.settings,
            redis=self.request.config_dict[keys.REDIS],
            caller=self.caller,
            gig_id=gig_id,
            completion=await self.optional_body(CompleteIn),
        )
        return ok(self.request, completed)


class ApplicationsView(_GigsView):
    async def get(
        self,
        gig_id: UUID,
        /,
        status: ApplicationStatus | None = None,
        cursor: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> r200[envelope_of(page_of(ApplicantOut))] | CHANGE_ERRORS:
        """Applications to your gig, first come first, each with profile, rates and tracks.

        Tags: gigs
        """
        page = await applications.list_applications(
            settings=self.settings,
            reader=self.reader,
            caller=self.caller,
            gig_id=gig_id,
            status=status,
            cursor=cursor,
            limit=limit,
        )
        return ok(self.request, page)


class ApplicationViewedView(_GigsView):
    async def post(
        self, gig_id: UUID, application_id: UUID, /
    ) -> r200[envelope_of(ApplicantOut)] | CHANGE_ERRORS:
        """Mark an application as seen (the artist sees when).

        Tags: gigs
        """
        applicant = await applications.mark_application_viewed(
            reader=self.reader,
            caller=self.caller,
            gig_id=gig_id,
            application_id=application_id,
        )
        return ok(self.request, applicant)


class AcceptView(_GigsView):
    async def post(
        self, gig_id: UUID, application_id: UUID, /
    ) -> r200[envelope_of(DecisionOut)] | CHANGE_ERRORS | r409[ErrorEnvelope]:
        """Book the artist (D-079: both of you get email and text); a full gig closes.

        Tags: gigs
        """
        decision = await bookings.accept_application(
            settings=self.settings,
            redis=self.request.config_dict[keys.REDIS],
            reader=self.reader,
            caller=self.caller,
            gig_id=gig_id,
            application_id=application_id,
        )
        return ok(self.request, decision)


class RejectView(_GigsView):
    async def post(
        self, gig_id: UUID, application_id: UUID, /
    ) -> r200[envelope_of(DecisionOut)] | CHANGE_ERRORS | r409[ErrorEnvelope]:
        """Decline an application; the artist is told by email.

        Tags: gigs
        """
        decision = await bookings.decline_application(
            settings=self.settings,
            reader=self.reader,
            caller=self.caller,
            gig_id=gig_id,
            application_id=application_id,
        )
        return ok(self.request, decision)


class VenueGigsView(_GigsView):
    async def get(
        self,
        /,
        status: GigStatus | None = None,
        cursor: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> r200[envelope_of(page_of(VenueGigOut))] | LIST_ERRORS:
        """Your venue's gigs, latest date first, with application counts.

        Tags: gigs
        """
        page = await service.list_venue_gigs(
            settings=self.settings,
            caller=self.caller,
            status=status,
            cursor=cursor,
            limit=limit,
        )
        return ok(self.request, page)


class OwnApplicationsView(_GigsView):
    async def get(
        self,
        /,
        status: ApplicationStatus | None = None,
        cursor: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> r200[envelope_of(page_of(ApplicationOut))] | LIST_ERRORS:
        """Your applications, newest first, with each venue's answer and when it looked.

        Tags: gigs
        """
        page = await applications.list_own_applications(
            settings=self.settings,
            caller=self.caller,
            status=status,
            cursor=cursor,
            limit=limit,
        )
        return ok(self.request, page)


class FavoritesView(_GigsView):
    async def get(
        self, /, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
    ) -> r200[envelope_of(page_of(FavoriteGigOut))] | LIST_ERRORS:
        """The gigs you saved, most recent first.

        Tags: gigs
        """
        page = await favorites.list_favorites(
            settings=self.settings,
            caller=self.caller,
            cursor=cursor,
            limit=limit,
        )
        return ok(self.request, page)


class BookingView(_GigsView):
    async def get(
        self, booking_id: UUID, /
    ) -> (
        r200[envelope_of(BookingOut)]
        | r400[ErrorEnvelope]
        | r401[ErrorEnvelope]
        | r404[ErrorEnvelope]
    ):
        """A booking's terms as agreed when the venue accepted; later gig edits leave them.

        The booking's id is the accepted application's. Its artist and its venue read it;
        to anyone else it does not exist (404).

        Tags: gigs
        """
        booking = await terms.get_booking(
            settings=self.settings, caller=self.caller, booking_id=booking_id
        )
        return ok(self.request, booking)


def routes(settings: Settings) -> list[web.AbstractRouteDef]:
    return [
        web.view("/v1/gigs", GigsView),
        web.view("/v1/gigs/{gig_id}", GigView),
        web.view("/v1/gigs/{gig_id}/cancel", CancelView),
        web.view("/v1/gigs/{gig_id}/apply", ApplyView),
        web.view("/v1/gigs/{gig_id}/favorite", FavoriteView),
        web.view("/v1/gigs/{gig_id}/complete", CompleteView),
        web.view("/v1/gigs/{gig_id}/applications", ApplicationsView),
        web.view("/v1/gigs/{gig_id}/applications/{application_id}/view", ApplicationViewedView),
        web.view("/v1/gigs/{gig_id}/applications/{application_id}/accept", AcceptView),
        web.view("/v1/gigs/{gig_id}/applications/{application_id}/reject", RejectView),
        web.view("/v1/venue/gigs", VenueGigsView),
        web.view("/v1/applications", OwnApplicationsView),
        web.view("/v1/bookings/{booking_id}", BookingView),
        web.view("/v1/favorites", FavoritesView),
    ]
