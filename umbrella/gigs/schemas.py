"""Request and response models of the marketplace: gigs, applications, favorites, bookings.

Every length matches its column in `migrations/gigs` (docs/marketplace.md lists each rule).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator

from umbrella.artists.fields import (
    IsoDate,
    OptText10,
    OptText300,
    OptText1000,
    OptText5000,
    Text100,
    Text200,
)
from umbrella.artists.genres import Genre
from umbrella.artists.schemas import PublicProfileOut
from umbrella.portfolio.schemas import TrackOut

PaymentType = Literal["flat", "hourly", "negotiable"]
GigStatus = Literal["open", "filled", "cancelled", "completed"]
ApplicationStatus = Literal["pending", "accepted", "rejected"]

# numeric(12,2): at most 9,999,999,999.99, in cents
Money = Annotated[Decimal, Field(ge=0, le=Decimal("9999999999.99"), decimal_places=2)]
# A gig for a festival lineup is large; more than 500 artists is a typo.
Capacity = Annotated[int, Field(strict=True, ge=1, le=500)]


class _In(BaseModel):
    """A request body: unknown fields are refused, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid")


class _GigFields(_In):
    description: OptText5000 = None
    address: OptText300 = None
    zip: OptText10 = None
    start_time: dt.time | None = None
    end_time: dt.time | None = None
    genre: Genre | None = None
    payment_amount: Money | None = None


class GigCreateIn(_GigFields):
    """A new gig. `venue_name` defaults to the venue account's name."""

    title: Text200
    venue_name: Text200 | None = None
    city: Text100
    state: Text100
    date: IsoDate
    payment_type: PaymentType = "flat"
    capacity: Capacity = 1

    @model_validator(mode="after")
    def _paid_or_negotiable(self) -> GigCreateIn:
        if self.payment_type != "negotiable" and self.payment_amount is None:
            raise ValueError("payment_amount is required unless payment_type is negotiable")
        return self


class GigUpdateIn(_GigFields):
    """Fields of a gig to change; those left out stay as they are (send null to clear one)."""

    title: Text200 | None = None
    venue_name: Text200 | None = None
    city: Text100 | None = None
    state: Text100 | None = None
    date: IsoDate | None = None
    payment_type: PaymentType | None = None
    capacity: Capacity | None = None


class VenueCardOut(BaseModel):
    """What artists ask about a venue before they apply (ours)."""

    venue_id: UUID
    completed_gigs: int = Field(description="Gigs of this venue marked completed.")
    past_gigs: int = Field(description="Gigs of this venue whose date has passed.")
    completion_rate: float | None = Field(
        description="Share of past gigs marked completed (cancelled ones count against it); "
        "null before the venue's first past gig."
    )
    typical_pay: Decimal | None = Field(
        description="Median flat pay of the venue's gigs (not cancelled ones); null if none."
    )
    avg_rating: Decimal | None = Field(description="Average rating artists gave the venue.")
    total_reviews: int


class MyApplicationOut(BaseModel):
    """The calling artist's own application to a gig."""

    id: UUID
    status: ApplicationStatus
    applied_at: dt.datetime
    viewed_at: dt.datetime | None
    responded_at: dt.datetime | None
    earned_amount: Decimal | None


class GigOut(BaseModel):
    """A gig as anyone signed in sees it."""

    id: UUID
    venue_id: UUID
    title: str
    description: str | None
    venue_name: str
    city: str
    state: str
    address: str | None
    zip: str | None
    date: dt.date
    start_time: dt.time | None
    end_time: dt.time | None
    genre: str | None
    payment_amount: Decimal | None
    payment_type: PaymentType
    capacity: int
    filled_slots: int
    urgency_flag: bool = Field(description="D-010: within 7 days and under half filled.")
    status: GigStatus
    created_at: dt.datetime
    updated_at: dt.datetime
    completed_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    venue: VenueCardOut
    is_favorite: bool = Field(description="The calling artist saved this gig.")
    my_application: MyApplicationOut | None = Field(
        description="The calling artist's application, if any."
    )


class VenueGigOut(GigOut):
    """A gig as its venue sees it: with the count of applications by status."""

    pending_applications: int
    accepted_applications: int
    rejected_applications: int


class GigBrowsePage(BaseModel):
    """One page of the shuffled marketplace (D-014)."""

    items: list[GigOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )
    seed: int = Field(
        description="Where this scroll's shuffle starts; the cursor carries it. Pass it as "
        "`seed` on a first page to see the same order again."
    )


class ApplyIn(_In):
    """D-077: one click; a note to the venue is optional."""

    message: OptText1000 = None


class ApplicationOut(MyApplicationOut):
    """An application as its artist sees it, with the gig it is for."""

    gig_id: UUID
    message: str | None
    gig_title: str
    gig_date: dt.date
    venue_name: str
    city: str
    gig_status: GigStatus


class ApplicantOut(BaseModel):
    """D-077: what goes to the venue with an application: profile, rates and portfolio."""

    id: UUID
    gig_id: UUID
    artist_id: UUID
    status: ApplicationStatus
    message: str | None
    applied_at: dt.datetime
    viewed_at: dt.datetime | None
    responded_at: dt.datetime | None
    earned_amount: Decimal | None
    profile: PublicProfileOut | None = Field(
        description="The artist's public profile, rates included; null if it was just deleted."
    )
    tracks: list[TrackOut] = Field(description="The first tracks of the artist's portfolio.")


class DecisionOut(BaseModel):
    """A venue's answer to an application, and the gig after it."""

    application: ApplicantOut
    gig: VenueGigOut
    declined_applications: int = Field(
        description="Applications declined because this booking filled the gig."
    )


class CompleteIn(_In):
    """D-080: earnings are what the parties report.

    An artist reports their own pay (and may correct it later). A venue's amount applies
    to each artist it booked; left out, a flat-rate gig's pay is assumed.
    """

    earned_amount: Money | None = None


class CompletionOut(BaseModel):
    gig: GigOut
    earned_amount: Decimal | None = Field(
        description="The calling artist's reported pay; null for the venue."
    )


class FavoriteOut(BaseModel):
    gig_id: UUID
    favorite: bool


class FavoriteGigOut(BaseModel):
    gig: GigOut
    saved_at: dt.datetime


class BookingOut(BaseModel):
    """A booking's terms as agreed when the venue accepted (issue 25); later gig edits
    leave them alone. The booking's id is the accepted application's."""

    id: UUID
    gig_id: UUID
    artist_id: UUID
    artist_name: str
    venue_id: UUID
    status: ApplicationStatus = Field(description="The application's status: accepted.")
    gig_status: GigStatus = Field(description="The gig's status now (cancelled, completed…).")
    title: str
    description: str | None
    genre: str | None
    venue_name: str
    address: str | None
    city: str
    state: str
    zip: str | None
    date: dt.date
    start_time: dt.time | None
    end_time: dt.time | None
    payment_amount: Decimal | None = Field(
        description='The agreed pay with two decimals ("500.00"); null if negotiable.'
    )
    currency: str = Field(description="ISO 4217 code of the pay, e.g. USD.")
    payment_type: PaymentType
    agreed_at: dt.datetime = Field(description="When the venue accepted.")
    booking_url: str = Field(description="The booking's page in the app.")
