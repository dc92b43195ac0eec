"""Every typed key of the app and of a request: the only way handlers reach shared clients."""

from __future__ import annotations

from typing import Any, Protocol
from uuid import UUID

from aiohttp import web
from piccolo.engine.postgres import PostgresEngine
from redis.asyncio import Redis

from umbrella.config import Settings
from umbrella.core.caller import ArtistIdLookup, Caller
from umbrella.core.storage import Storage
from umbrella.integrations.llm import Llm
from umbrella.integrations.oidc import OidcClient
from umbrella.observability.metrics import Metrics


class ArtistProfileCheck(Protocol):
    """Whether a user has an artist profile: accounts asks, the artists domain answers."""

    async def __call__(self, *, user_id: UUID) -> bool: ...


class TrackCount(Protocol):
    """How many tracks an artist has: artists asks, the portfolio domain answers."""

    async def __call__(self, *, artist_id: UUID) -> int: ...


SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
DB = web.AppKey("db", PostgresEngine)
REDIS = web.AppKey("redis", Redis)
STORAGE = web.AppKey("storage", Storage)
LLM = web.AppKey("llm", Llm)
OIDC = web.AppKey("oidc", OidcClient)
OPENAPI: web.AppKey[dict[str, Any]] = web.AppKey("openapi")
# A lower domain's questions to a higher one, answered by functions the composition root
# (umbrella/app.py) sets here: the lower domain imports nothing above it.
HAS_ARTIST_PROFILE: web.AppKey[ArtistProfileCheck] = web.AppKey("has_artist_profile")
COUNT_TRACKS: web.AppKey[TrackCount] = web.AppKey("count_tracks")
ARTIST_ID_OF: web.AppKey[ArtistIdLookup] = web.AppKey("artist_id_of")

REQUEST_ID = web.RequestKey("request_id", str)
# The caller, built from the session on first use and kept for the request (ApiView.caller)
CALLER = web.RequestKey("caller", Caller)
# Query parameters that are credentials, taken off the URL (see middlewares.hide_query_secrets)
QUERY_SECRETS: web.RequestKey[dict[str, str]] = web.RequestKey("query_secrets")
# Set when the answer is a 503 by design (errors.NotConfigured): the request metric marks it
NOT_CONFIGURED = web.RequestKey("not_configured", bool)
# The status of an error a sign-in page answered as a 303 to the web app: the request metric
# and the access log count this one, so error SLOs and rate-limit dashboards still see it
REDIRECTED_ERROR_STATUS = web.RequestKey("redirected_error_status", int)
