"""HTTP handlers of analytics: thin, one service call each (docs/analytics.md)."""

from __future__ import annotations

from typing import TypeAlias
from uuid import UUID

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r400, r401, r403, r404

from umbrella import keys
from umbrella.analytics import service
from umbrella.analytics.schemas import (
    AnalyticsOut,
    ChartOut,
    ChartPeriod,
    EarningsRangeIn,
    SpotlightOut,
)
from umbrella.artists.fields import IsoDate
from umbrella.config import Settings
from umbrella.web.envelope import ErrorEnvelope, envelope_of, ok
from umbrella.web.views import ApiView

OWN_ERRORS: TypeAlias = r401[ErrorEnvelope] | r403[ErrorEnvelope] | r404[ErrorEnvelope]


class _OwnAnalyticsView(ApiView):
    async def artist_id(self) -> UUID:
        # Artists only: a venue gets 403, an artist before onboarding step 1 a 404.
        return await self.caller.require_artist()


class AnalyticsView(_OwnAnalyticsView):
    async def get(self) -> r200[envelope_of(AnalyticsOut)] | OWN_ERRORS:
        """Your latest daily numbers (D-008: written at midnight UTC) and your totals.

        `latest` is null until the first nightly batch after you joined.

        Tags: analytics
        """
        analytics = await service.get_analytics(
            artist_id=await self.artist_id(), on=service.today()
        )
        return ok(self.request, analytics)


class ChartView(_OwnAnalyticsView):
    async def get(
        self, /, period: ChartPeriod = "monthly"
    ) -> r200[envelope_of(ChartOut)] | r400[ErrorEnvelope] | OWN_ERRORS:
        """A chart of your daily numbers.

        `monthly`: one point per day for the last 30 finished UTC days; `yearly`: one point
        per calendar month for the last 12 months (the current one so far). Flows (earnings,
        gigs, views, plays) are summed, levels (followers, rating) are the period's last.

        Tags: analytics
        """
        chart = await service.get_chart(
            artist_id=await self.artist_id(), period=period, on=service.today()
        )
        return ok(self.request, chart)


class EarningsCsvView(_OwnAnalyticsView):
    async def get(self, /, to: IsoDate | None = None) -> r200 | r400[ErrorEnvelope] | OWN_ERRORS:
        """Your completed gigs as CSV for an accountant: date, venue, title, place, amount.

        Query: `from` and `to` (YYYY-MM-DD, inclusive, on the gig's date). Without either:
        the current UTC year; with one: from it to the end (or start) of its year. Amounts
        are what was reported (D-080). Any part of a cell that a spreadsheet could run as a
        formula (at its start or after `,` `;` a tab `|` or a line break) gets a leading `'`.

        Status Codes:
            200: `text/csv` as a download (`Content-Disposition: attachment`).
            400: A bad date (field `from` or `to`), or `from` after `to` (field `from`).

        Tags: analytics
        """
        # `from` is a Python keyword, so it is read from the query here (and `to` with it).
        given = EarningsRangeIn.parse(date_from=self.request.query.get("from"), date_to=to)
        artist_id = await self.artist_id()
        date_from, date_to = service.earnings_range(
            date_from=given.date_from, date_to=given.date_to, on=service.today()
        )
        text = await service.get_earnings_csv(
            artist_id=artist_id, date_from=date_from, date_to=date_to
        )
        name = f"umbrella-earnings-{date_from.isoformat()}-{date_to.isoformat()}.csv"
        return web.Response(
            text=text,
            content_type="text/csv",
            charset="utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
            },
        )


class SpotlightView(ApiView):
    # Public: spotlight shows public card fields only, like the artist list.
    public = True

    async def get(self) -> r200[envelope_of(SpotlightOut)]:
        """D-068: up to 10 random verified artists rated above 4.5, the same all UTC day.

        No session needed. Picked by the midnight batch and cached 24 hours; picked anew on
        a cache miss, and from Postgres alone when Redis is down.

        Tags: analytics
        """
        resources = self.request.config_dict
        spotlight = await service.get_spotlight(
            redis=resources[keys.REDIS],
            metrics=resources[keys.METRICS],
            storage=resources[keys.STORAGE],
            on=service.today(),
        )
        return ok(self.request, spotlight)


def routes(settings: Settings) -> list[web.AbstractRouteDef]:
    return [
        web.view("/v1/analytics", AnalyticsView),
        web.view("/v1/analytics/chart", ChartView),
        web.view("/v1/analytics/earnings.csv", EarningsCsvView),
        web.view("/v1/analytics/spotlight", SpotlightView),
    ]
