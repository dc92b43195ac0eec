"""Request and response models of gig alerts: a name, gig browse's filters, text or not."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from umbrella.artists.fields import IsoDate, Text100
from umbrella.artists.genres import Genre
from umbrella.gigs.browse import GigFilters
from umbrella.gigs.schemas import Money

MAX_ALERTS = 10
# Every genre of the list at most once; more than a dozen is no filter at all.
MAX_GENRES = 12


def _cents(value: Decimal) -> Decimal:
    # Money always shows two decimals ("50.00"), however the client wrote it.
    return value.quantize(Decimal("0.01"))


Pay = Annotated[Money, AfterValidator(_cents)]


class AlertFilters(BaseModel):
    """Gig browse's filters (`GET /v1/gigs`), the same names and rules, saved as an alert.

    Left out, a filter matches every gig; `genres` matches any of them.
    """

    model_config = ConfigDict(extra="forbid")

    genres: list[Genre] = Field(default=[], max_length=MAX_GENRES)
    city: Text100 | None = None
    state: Text100 | None = None
    date_from: IsoDate | None = None
    date_to: IsoDate | None = None
    payment_min: Pay | None = None
    payment_max: Pay | None = None
    urgent: bool | None = Field(
        default=None, description="Only urgent gigs (true) or only the others (false)."
    )

    def gig_filters(self) -> GigFilters:
        """The same filters as gig browse reads them (its checks and its SQL)."""
        return GigFilters(
            genres=tuple(dict.fromkeys(self.genres)),
            date_from=self.date_from,
            date_to=self.date_to,
            city=self.city,
            state=self.state,
            payment_min=self.payment_min,
            payment_max=self.payment_max,
            urgent=self.urgent,
        )

    def stored(self) -> dict[str, Any]:
        """The JSON the `filters` column holds: only the filters given."""
        return self.model_dump(mode="json", exclude_none=True, exclude_defaults=True)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AlertCreateIn(_In):
    """A new alert: what to call it, which gigs it matches, and whether urgent ones go by text."""

    name: Text100
    filters: AlertFilters = Field(default_factory=AlertFilters)
    text_urgent: bool = Field(
        default=False,
        description="Also text you when an urgent gig (D-010) matches (your phone and SMS "
        "settings permitting).",
    )
    active: bool = True


class AlertUpdateIn(_In):
    """Fields of an alert to change; those left out stay. `filters` replaces them all."""

    name: Text100 | None = None
    filters: AlertFilters | None = None
    text_urgent: bool | None = None
    active: bool | None = Field(
        default=None, description="false turns the alert off (as its unsubscribe link does)."
    )


class AlertOut(BaseModel):
    """A saved gig alert."""

    id: UUID
    name: str
    filters: AlertFilters
    text_urgent: bool
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class AlertDeletedOut(BaseModel):
    id: UUID
    deleted: bool
