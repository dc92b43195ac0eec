"""HTTP handlers: thin, one service call each."""

from __future__ import annotations

from uuid import UUID

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r400, r401, r404

from umbrella import keys
from umbrella.config import Settings
from umbrella.core.pagination import DEFAULT_LIMIT, Limit, page_of
from umbrella.follows import service
from umbrella.follows.schemas import FollowedArtistOut, FollowerOut, FollowOut
from umbrella.web.envelope import ErrorEnvelope, envelope_of, ok
from umbrella.web.views import ApiView


class FollowView(ApiView):
    async def post(
        self, artist_id: UUID, /
    ) -> (
        r200[envelope_of(FollowOut)]
        | r400[ErrorEnvelope]
        | r401[ErrorEnvelope]
        | r404[ErrorEnvelope]
    ):
        """Follow an artist (again: no change, same answer).

        Tags: follows
        """
        follow = await service.create_follow(
            redis=self.request.config_dict[keys.REDIS],
            caller=self.caller,
            artist_id=artist_id,
        )
        return ok(self.request, follow)

    async def delete(
        self, artist_id: UUID, /
    ) -> (
        r200[envelope_of(FollowOut)]
        | r400[ErrorEnvelope]
        | r401[ErrorEnvelope]
        | r404[ErrorEnvelope]
    ):
        """Unfollow an artist (again: no change, same answer).

        Tags: follows
        """
        follow = await service.delete_follow(
            redis=self.request.config_dict[keys.REDIS],
            caller=self.caller,
            artist_id=artist_id,
        )
        return ok(self.request, follow)


class FollowersView(ApiView):
    public = True

    async def get(
        self,
        artist_id: UUID,
        /,
        cursor: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> r200[envelope_of(page_of(FollowerOut))] | r400[ErrorEnvelope] | r404[ErrorEnvelope]:
        """Who follows an artist, newest first (names only, never emails).

        Tags: follows
        """
        page = await service.list_followers(
            settings=self.settings, artist_id=artist_id, cursor=cursor, limit=limit
        )
        return ok(self.request, page)


class FollowingView(ApiView):
    async def get(
        self, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
    ) -> r200[envelope_of(page_of(FollowedArtistOut))] | r400[ErrorEnvelope] | r401[ErrorEnvelope]:
        """The artists you follow, most recently followed first.

        Tags: follows
        """
        page = await service.list_following(
            settings=self.settings, caller=self.caller, cursor=cursor, limit=limit
        )
        return ok(self.request, page)


def routes(settings: Settings) -> list[web.AbstractRouteDef]:
    return [
        web.view("/v1/artists/{artist_id}/follow", FollowView),
        web.view("/v1/artists/{artist_id}/followers", FollowersView),
        web.view("/v1/following", FollowingView),
    ]
