"""HTTP handlers of gig alerts and their one-click off links: thin, one service call each."""

from __future__ import annotations

import html
from typing import TypeAlias
from urllib.parse import quote
from uuid import UUID

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r201, r400, r401, r403, r404, r409

from umbrella.alerts import service
from umbrella.alerts.schemas import AlertCreateIn, AlertDeletedOut, AlertOut, AlertUpdateIn
from umbrella.config import Settings
from umbrella.core.pagination import DEFAULT_LIMIT, Limit, page_of
from umbrella.web.envelope import ErrorEnvelope, envelope_of, ok
from umbrella.web.middlewares import query_secret
from umbrella.web.views import ApiView

ERRORS: TypeAlias = (
    r400[ErrorEnvelope] | r401[ErrorEnvelope] | r403[ErrorEnvelope] | r404[ErrorEnvelope]
)
LIST_ERRORS: TypeAlias = r400[ErrorEnvelope] | r401[ErrorEnvelope] | r403[ErrorEnvelope]


class AlertsView(ApiView):
    async def get(
        self, /, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
    ) -> r200[envelope_of(page_of(AlertOut))] | LIST_ERRORS:
        """Your gig alerts, newest first (artists).

        Tags: alerts
        """
        page = await service.list_alerts(
            settings=self.settings, caller=self.caller, cursor=cursor, limit=limit
        )
        return ok(self.request, page)

    async def post(
        self, body: AlertCreateIn
    ) -> r201[envelope_of(AlertOut)] | ERRORS | r409[ErrorEnvelope]:
        """Save gig browse's filters as an alert: new open gigs matching it come in a daily
        email (urgent ones also by text if `text_urgent`).

        At most 10 alerts per artist: an 11th is refused with 409 (field `alerts`).

        Tags: alerts
        """
        alert = await service.create_alert(caller=self.caller, alert=body)
        return ok(self.request, alert, status=201)


class AlertView(ApiView):
    async def get(self, alert_id: UUID, /) -> r200[envelope_of(AlertOut)] | ERRORS:
        """One of your gig alerts (anyone else's: 404).

        Tags: alerts
        """
        alert = await service.get_alert(caller=self.caller, alert_id=alert_id)
        return ok(self.request, alert)

    async def put(
        self, alert_id: UUID, /, body: AlertUpdateIn
    ) -> r200[envelope_of(AlertOut)] | ERRORS:
        """Change an alert: send only the fields to change (`filters` replaces them all).

        Tags: alerts
        """
        alert = await service.update_alert(caller=self.caller, alert_id=alert_id, changes=body)
        return ok(self.request, alert)

    async def delete(self, alert_id: UUID, /) -> r200[envelope_of(AlertDeletedOut)] | ERRORS:
        """Delete one of your gig alerts.

        Tags: alerts
        """
        deleted = await service.delete_alert(caller=self.caller, alert_id=alert_id)
        return ok(self.request, deleted)


# -- the one-click off link (public) ------------------------------------------------------------

_PAGE_HEADERS = {
    # A link from an email: never cached, never indexed, never leaking its token onwards.
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
}


def _page(title: str, body: str) -> web.Response:
    document = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;"
        "padding:0 1rem;line-height:1.5}button{font-size:1rem;padding:.6rem 1.2rem}</style>"
        f"</head><body>{body}</body></html>"
    )
    return web.Response(
        text=document, content_type="text/html", charset="utf-8", headers=_PAGE_HEADERS
    )


def _off_page(name: str) -> web.Response:
    return _page(
        "Alert off",
        f"<h1>Alert off</h1><p>Your alert “{html.escape(name)}” sends no more emails or "
        "texts. Turn it back on, or change it, under Alerts in Umbrella.</p>",
    )


class AlertUnsubscribeView(ApiView):
    public = True
    # Mail apps' one-click POSTs arrive from a few provider addresses for many readers.
    rate_limit_exempt = True

    async def get(self, token: str = "") -> r200 | r404[ErrorEnvelope]:
        """The page of a digest's "turn this alert off" link: one button that POSTs.

        A GET changes nothing: mail scanners open links before the reader does.

        Status Codes:
            200: `text/html`, the page with the button (or "already off").
            404: A forged link, or the alert was deleted (field `token`).

        Tags: alerts
        """
        secret = query_secret(self.request, "token") or ""
        found = await service.get_alert_switch(settings=self.settings, token=secret)
        if not found.active:
            return _off_page(found.name)
        action = html.escape(f"{service.UNSUBSCRIBE_PATH}?token={quote(secret, safe='')}")
        return _page(
            "Turn this alert off",
            f"<h1>Turn off “{html.escape(found.name)}”?</h1>"
            "<p>You will get no more new gigs from this alert. Your other alerts stay on.</p>"
            f'<form method="post" action="{action}"><button type="submit">Turn it off</button>'
            "</form>",
        )

    async def post(self, token: str = "") -> r200 | r404[ErrorEnvelope]:
        """Turn the alert off, at once (the page's button); again changes nothing.

        No session and no body: the signed token names the alert.

        Status Codes:
            200: `text/html`, the alert is off.
            404: A forged link, or the alert was deleted (field `token`).

        Tags: alerts
        """
        secret = query_secret(self.request, "token") or ""
        found = await service.turn_off_alert(settings=self.settings, token=secret)
        return _off_page(found.name)


def routes(settings: Settings) -> list[web.AbstractRouteDef]:
    return [
        web.view("/v1/alerts", AlertsView),
        # Before /v1/alerts/{alert_id}, which would read "unsubscribe" as an id.
        web.view(service.UNSUBSCRIBE_PATH, AlertUnsubscribeView),
        web.view("/v1/alerts/{alert_id}", AlertView),
    ]
