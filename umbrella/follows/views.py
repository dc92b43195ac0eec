"""HTTP handlers: thin, one service call each."""

from __future__ import annotations

from aiohttp import web

from umbrella.config import Settings


def routes(settings: Settings) -> list[web.AbstractRouteDef]:
    return []
