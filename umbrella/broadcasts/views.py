"""HTTP handlers of fan broadcasts: thin, one service call each (docs/broadcasts.md)."""

from __future__ import annotations

from typing import TypeAlias
from uuid import UUID

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r201, r400, r401, r403, r404, r409

from umbrella.broadcasts import service
from umbrella.broadcasts.schemas import (
    BroadcastHistoryOut,
    BroadcastIn,
    BroadcastOut,
    PreviewOut,
)
from umbrella.config import Settings
from umbrella.core.pagination import DEFAULT_LIMIT, Limit, page_of
from umbrella.web.envelope import ErrorEnvelope, envelope_of, ok
from umbrella.web.views import ApiView

ERRORS: TypeAlias = (
    r400[ErrorEnvelope] | r401[ErrorEnvelope] | r403[ErrorEnvelope] | r404[ErrorEnvelope]
)


class BroadcastView(ApiView):
    async def post(self, body: BroadcastIn) -> r201[envelope_of(BroadcastOut)] | ERRORS:
        """Send a text-only broadcast (D-049) to your lists by email, SMS or both.

        Without `send_at` it goes now; with one it waits for that time. Each opted-in,
        unsuppressed address gets one copy per channel, even if it is on several lists.

        Tags: fans
        """
        created = await service.create_broadcast(caller=self.caller, broadcast=body)
        return ok(self.request, created, status=201)


class PreviewView(ApiView):
    async def post(self, body: BroadcastIn) -> r200[envelope_of(PreviewOut)] | ERRORS:
        """Recipients per channel, SMS segments and estimated cost of a broadcast; sends nothing.

        Tags: fans
        """
        preview = await service.preview_broadcast(
            settings=self.settings,
            caller=self.caller,
            broadcast=body,
        )
        return ok(self.request, preview)


class HistoryView(ApiView):
    async def get(
        self, /, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
    ) -> r200[envelope_of(page_of(BroadcastHistoryOut))] | ERRORS:
        """Your broadcasts, newest first, with sent, failed, pending and unsubscribed counts.

        Tags: fans
        """
        page = await service.list_history(
            settings=self.settings,
            caller=self.caller,
            cursor=cursor,
            limit=limit,
        )
        return ok(self.request, page)


class CancelView(ApiView):
    async def post(
        self, broadcast_id: UUID, /
    ) -> r200[envelope_of(BroadcastOut)] | ERRORS | r409[ErrorEnvelope]:
        """Cancel a scheduled broadcast, or what a sending one has not sent yet.

        Tags: fans
        """
        cancelled = await service.cancel_broadcast(caller=self.caller, broadcast_id=broadcast_id)
        return ok(self.request, cancelled)


def routes(settings: Settings) -> list[web.AbstractRouteDef]:
    return [
        web.view("/v1/broadcast", BroadcastView),
        web.view("/v1/broadcast/preview", PreviewView),
        web.view("/v1/broadcast/history", HistoryView),
        web.view("/v1/broadcast/{broadcast_id}/cancel", CancelView),
    ]
