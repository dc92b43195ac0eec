"""HTTP handlers: thin, one service call each."""

from __future__ import annotations

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r401, r403, r404

from umbrella.calendar import service
from umbrella.calendar.schemas import CalendarFeedOut, CalendarTokenOut
from umbrella.config import Settings
from umbrella.web.envelope import ErrorEnvelope, envelope_of, ok
from umbrella.web.middlewares import query_secret
from umbrella.web.views import ApiView

# Calendar apps poll often; a few minutes of staleness spares the database.
FEED_CACHE_CONTROL = "private, max-age=300"


class CalendarView(ApiView):
    async def get(self) -> r200[envelope_of(CalendarFeedOut)] | r401[ErrorEnvelope]:
        """Whether you have a calendar feed link, when it was made and last fetched.

        The link itself is never shown again: it is stored hashed. Make a new one to see it.

        Tags: calendar
        """
        feed = await service.get_feed(caller=self.caller)
        return ok(self.request, feed)


class CalendarTokenView(ApiView):
    async def post(
        self,
    ) -> r200[envelope_of(CalendarTokenOut)] | r401[ErrorEnvelope] | r403[ErrorEnvelope]:
        """Make your calendar feed link (artists and venues), replacing any earlier one.

        The answer is the only time the link is shown; an earlier link stops working at once.

        Status Codes:
            200: The new link (`url`, and `webcal_url` for Apple Calendar and Outlook).
            403: Only artists and venues have a calendar.

        Tags: calendar
        """
        token = await service.create_feed_token(settings=self.settings, caller=self.caller)
        response = ok(self.request, token)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def delete(self) -> r200[envelope_of(CalendarFeedOut)] | r401[ErrorEnvelope]:
        """Turn your calendar feed link off (again: no change, same answer).

        Tags: calendar
        """
        feed = await service.delete_feed_token(caller=self.caller)
        return ok(self.request, feed)


class CalendarFeedView(ApiView):
    public = True

    async def get(self, token: str = "") -> r200 | r404[ErrorEnvelope]:
        """Your gigs as an iCalendar feed (RFC 5545), for calendar apps to subscribe to.

        No session: the token in the link is the credential. An artist gets the gigs a venue
        accepted them for, a venue its own gigs; from 90 days ago on, at most 500. A cancelled
        gig stays in the feed, marked cancelled. See docs/calendar.md.

        Status Codes:
            200: `text/calendar`, one VEVENT per gig.
            404: The link was replaced or turned off (field `token`).

        Tags: calendar
        """
        # The URL (and `token` here) carries a placeholder: the real value is kept off traces.
        secret = query_secret(self.request, "token") or ""
        text = await service.get_feed_calendar(settings=self.settings, token=secret)
        response = web.Response(
            text=text,
            content_type="text/calendar",
            charset="utf-8",
            headers={
                "Content-Disposition": 'inline; filename="umbrella.ics"',
                "Cache-Control": FEED_CACHE_CONTROL,
            },
        )
        response.enable_compression()
        return response


def routes(settings: Settings) -> list[web.AbstractRouteDef]:
    return [
        web.view("/v1/calendar", CalendarView),
        web.view("/v1/calendar/token", CalendarTokenView),
        web.view("/v1/calendar.ics", CalendarFeedView),
    ]
