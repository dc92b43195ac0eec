"""Request and response models of the analytics API (docs/analytics.md)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from umbrella.artists.fields import IsoDate
from umbrella.search.schemas import ArtistCardOut
from umbrella.web.views import validation_failed

ChartPeriod = Literal["monthly", "yearly"]


def _cents(value: Decimal) -> Decimal:
    # A sum over no rows is a bare 0: money always shows its two decimals ("0.00").
    return value.quantize(Decimal("0.01"))


Amount = Annotated[Decimal, AfterValidator(_cents)]


class DailyMetricOut(BaseModel):
    """One artist's numbers for one UTC day, as the midnight batch wrote them (D-008)."""

    date: dt.date
    earnings: Amount
    gigs_completed: int
    profile_views: int
    followers: int
    avg_rating: Decimal | None = Field(description="As of the end of the day; null: no reviews.")
    track_plays: int


class AnalyticsTotalsOut(BaseModel):
    """Running totals of the profile, plus sums over the last 30 days of daily rows."""

    total_earnings: Amount
    total_gigs: int
    followers: int
    avg_rating: Decimal | None = Field(description="null while the artist has no reviews.")
    total_reviews: int
    profile_views: int = Field(description="Every profile view counted so far.")
    earnings_last_30_days: Amount
    gigs_last_30_days: int
    views_last_30_days: int
    plays_last_30_days: int

    @model_validator(mode="after")
    def _no_reviews_no_rating(self) -> AnalyticsTotalsOut:
        # The profile keeps 0 for an unreviewed artist; shown, that reads as a bad rating.
        if self.total_reviews == 0:
            self.avg_rating = None
        return self


class AnalyticsOut(BaseModel):
    """`GET /v1/analytics`: the latest daily row (null before the first batch) and totals."""

    latest: DailyMetricOut | None
    totals: AnalyticsTotalsOut


class ChartPointOut(BaseModel):
    """One point of a chart: a day (monthly) or a calendar month (yearly)."""

    date: dt.date = Field(description="The day, or the first day of the month.")
    earnings: Amount
    gigs_completed: int
    profile_views: int
    track_plays: int
    followers: int | None = Field(description="At the end of the period; null: no row yet.")
    avg_rating: Decimal | None = Field(description="At the end of the period; null: none yet.")


class ChartOut(BaseModel):
    """A series: `monthly` is the last 30 days by day, `yearly` the last 12 months by month."""

    period: ChartPeriod
    points: list[ChartPointOut]


class EarningsRangeIn(BaseModel):
    """`from` and `to` of the earnings export (the service fills in a missing one)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    date_from: IsoDate | None = Field(default=None, alias="from")
    date_to: IsoDate | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> EarningsRangeIn:
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("`from` must not be after `to`")
        return self

    @classmethod
    def parse(cls, *, date_from: str | None, date_to: dt.date | None) -> EarningsRangeIn:
        """Validate the range; a bad `from`, or one after `to`, is a 400 naming `from`."""
        given = {k: v for k, v in (("from", date_from), ("to", date_to)) if v is not None}
        try:
            return cls.model_validate(given)
        except ValidationError as error:
            failed = validation_failed(error)
            # The order rule has no location of its own: it is about `from`.
            if failed.field in (None, "body"):
                failed.field = "from"
            raise failed from None


class SpotlightOut(BaseModel):
    """D-068: up to 10 verified artists rated above 4.5, the same all day (UTC)."""

    date: dt.date
    artists: list[ArtistCardOut]
