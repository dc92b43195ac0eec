"""HTTP handlers of artist discovery and global search: thin, one call each."""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn
from uuid import UUID

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r400, r401, r404
from pydantic import ValidationError

from umbrella import keys
from umbrella.artists import service as artists_service
from umbrella.artists.genres import GENRES, Genre
from umbrella.artists.schemas import PublicProfileOut
from umbrella.config import Settings
from umbrella.core.pagination import DEFAULT_LIMIT, Limit, page_of
from umbrella.search import service
from umbrella.search.schemas import (
    ANY_GENRE,
    DEFAULT_SEARCH_LIMIT,
    ArtistCardOut,
    Location,
    SearchFiltersIn,
    SearchHitOut,
    SearchLimit,
    SearchText,
    SearchType,
    query_field,
)
from umbrella.web.envelope import ErrorEnvelope, envelope_of, ok
from umbrella.web.ratelimit import visitor
from umbrella.web.views import ApiView


class _QueryView(ApiView):
    async def on_validation_error(self, exception: ValidationError, context: Any) -> NoReturn:
        raise query_field(exception)


class ArtistsView(_QueryView):
    public = True

    async def get(
        self,
        genre: list[Genre] = ANY_GENRE,
        location: Location | None = None,
        verified: bool | None = None,
        cursor: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> r200[envelope_of(page_of(ArtistCardOut))] | r400[ErrorEnvelope]:
        """Artists who finished onboarding, newest first: public fields only, a page at a time.

        Filters combine: `genre` (repeatable, any of them), `location` (city or state,
        case-insensitive, whole name) and `verified`.

        Tags: artists
        """
        page = await service.list_artists(
            settings=self.settings,
            storage=self.request.config_dict[keys.STORAGE],
            genres=genre,
            location=location,
            verified=verified,
            cursor=cursor,
            limit=limit,
        )
        return ok(self.request, page)


class ArtistView(ApiView):
    public = True

    async def get(
        self, artist_id: UUID, /
    ) -> r200[envelope_of(PublicProfileOut)] | r400[ErrorEnvelope] | r404[ErrorEnvelope]:
        """An artist's public profile (as `GET /v1/profile/{artist_id}`): no private fields.

        Tags: artists
        """
        reader = artists_service.ProfileReader.of(self.request.config_dict)
        viewer = self.optional_caller
        profile = await artists_service.get_public_profile(
            artist_id=artist_id,
            viewer_user_id=viewer.user_id if viewer is not None else None,
            visitor=visitor(self.request),
            reader=reader,
        )
        return ok(self.request, profile)


class SearchView(_QueryView):
    query_parameters: ClassVar[dict[str, list[dict[str, Any]]]] = {
        "get": [
            {
                "name": "filters[genre]",
                "description": "A genre of the artists list; repeat it for several (any).",
                "schema": {"type": "array", "items": {"type": "string", "enum": list(GENRES)}},
                "style": "form",
                "explode": True,
            },
            {
                "name": "filters[location]",
                "description": "A city or a state, the whole name, case-insensitive.",
                "schema": {"type": "string", "maxLength": 100},
            },
        ]
    }

    async def get(
        self,
        q: SearchText,
        type: SearchType | None = None,
        cursor: str | None = None,
        limit: SearchLimit = DEFAULT_SEARCH_LIMIT,
    ) -> r200[envelope_of(page_of(SearchHitOut))] | r400[ErrorEnvelope] | r401[ErrorEnvelope]:
        """Search artists and open upcoming gigs (D-071), best match first, cached 15 minutes.

        `type`: `artists` or `gigs`; left out, both, in one ranking. Two more query
        parameters filter: `filters[genre]` (a genre of the artists list; repeatable, any of
        them) and `filters[location]` (a city or a state, case-insensitive). Names rank
        above taglines and bios (titles above venues and descriptions), and a near miss of
        a name still matches ("jonny cahs" finds "Johnny Cash"). Pages by `cursor`.

        Tags: search
        """
        filters = SearchFiltersIn.from_query(self.request.query)
        config = self.request.config_dict
        page = await service.search(
            settings=self.settings,
            redis=config[keys.REDIS],
            metrics=config[keys.METRICS],
            storage=config[keys.STORAGE],
            text=q,
            kind=type,
            filters=filters,
            cursor=cursor,
            limit=limit,
        )
        return ok(self.request, page)


def routes(settings: Settings) -> list[web.AbstractRouteDef]:
    return [
        web.view("/v1/artists", ArtistsView),
        # One segment after the id is follows' (/follow, /followers): no clash.
        web.view("/v1/artists/{artist_id}", ArtistView),
        web.view("/v1/search", SearchView),
    ]
