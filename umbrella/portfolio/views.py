"""HTTP handlers: thin, one service call each."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r201, r400, r401, r403, r404, r413

from umbrella import keys
from umbrella.config import Settings
from umbrella.portfolio import service
from umbrella.portfolio.schemas import (
    DeletedOut,
    PlayOut,
    PortfolioOut,
    TrackCreateIn,
    TrackOrderIn,
    TrackOut,
    TrackUpdateIn,
    TrackUploadIn,
    TrackUploadOut,
)
from umbrella.web.envelope import ErrorEnvelope, envelope_of, ok
from umbrella.web.ratelimit import UPLOAD_URLS, visitor
from umbrella.web.views import ApiView


class PortfolioView(ApiView):
    public = True

    async def get(
        self, artist_id: UUID, /
    ) -> r200[envelope_of(PortfolioOut)] | r404[ErrorEnvelope]:
        """An artist's tracks in display order (at most 50), with one-hour audio links.

        Tags: portfolio
        """
        portfolio = await service.list_tracks(
            storage=self.request.config_dict[keys.STORAGE], artist_id=artist_id
        )
        return ok(self.request, portfolio)


class TrackUploadView(ApiView):
    rate_limits: ClassVar[tuple[str, ...]] = (UPLOAD_URLS,)

    async def post(
        self, body: TrackUploadIn
    ) -> (
        r201[envelope_of(TrackUploadOut)]
        | r400[ErrorEnvelope]
        | r401[ErrorEnvelope]
        | r403[ErrorEnvelope]
        | r413[ErrorEnvelope]
    ):
        """Presigned POST for a track's audio (MP3, WAV or FLAC, at most 50 MB, within quota).

        Tags: portfolio
        """
        ticket = await service.create_track_upload(
            storage=self.request.config_dict[keys.STORAGE],
            metrics=self.request.config_dict[keys.METRICS],
            caller=self.caller,
            content_type=body.content_type,
            size_bytes=body.size_bytes,
            filename=body.filename,
        )
        return ok(self.request, ticket, status=201)


class TracksView(ApiView):
    async def post(
        self, body: TrackCreateIn
    ) -> (
        r201[envelope_of(TrackOut)]
        | r200[envelope_of(TrackOut)]
        | r400[ErrorEnvelope]
        | r401[ErrorEnvelope]
        | r403[ErrorEnvelope]
        | r404[ErrorEnvelope]
    ):
        """Add a track (an uploaded file and/or streaming links) at the end of the portfolio.

        A repeat with an upload already confirmed answers the same track with 200.

        Tags: portfolio
        """
        track, created = await service.create_track(
            storage=self.request.config_dict[keys.STORAGE],
            metrics=self.request.config_dict[keys.METRICS],
            redis=self.request.config_dict[keys.REDIS],
            caller=self.caller,
            data=body,
        )
        return ok(self.request, track, status=201 if created else 200)


class TrackOrderView(ApiView):
    async def put(
        self, body: TrackOrderIn
    ) -> r200[envelope_of(PortfolioOut)] | r400[ErrorEnvelope] | r403[ErrorEnvelope]:
        """Reorder the portfolio: list every one of your tracks once, in display order.

        Tags: portfolio
        """
        portfolio = await service.update_track_order(
            storage=self.request.config_dict[keys.STORAGE],
            redis=self.request.config_dict[keys.REDIS],
            caller=self.caller,
            track_ids=body.track_ids,
        )
        return ok(self.request, portfolio)


class TrackView(ApiView):
    async def put(
        self, track_id: UUID, /, body: TrackUpdateIn
    ) -> (
        r200[envelope_of(TrackOut)]
        | r400[ErrorEnvelope]
        | r403[ErrorEnvelope]
        | r404[ErrorEnvelope]
    ):
        """Edit a track's title, genre, duration or links (only the fields sent change).

        Tags: portfolio
        """
        track = await service.update_track(
            storage=self.request.config_dict[keys.STORAGE],
            redis=self.request.config_dict[keys.REDIS],
            caller=self.caller,
            track_id=track_id,
            changes=body.model_dump(include=body.model_fields_set),
        )
        return ok(self.request, track)

    async def delete(
        self, track_id: UUID, /
    ) -> r200[envelope_of(DeletedOut)] | r403[ErrorEnvelope] | r404[ErrorEnvelope]:
        """Delete a track, its audio file and the storage it used.

        Tags: portfolio
        """
        await service.delete_track(
            storage=self.request.config_dict[keys.STORAGE],
            redis=self.request.config_dict[keys.REDIS],
            caller=self.caller,
            track_id=track_id,
        )
        return ok(self.request, DeletedOut(deleted=True))


class TrackPlayView(ApiView):
    public = True

    async def post(
        self, artist_id: UUID, track_id: UUID, /
    ) -> r200[envelope_of(PlayOut)] | r404[ErrorEnvelope]:
        """Count one play of a track (a cached profile may show the count up to an hour late).

        Tags: portfolio
        """
        play = await service.create_play(
            redis=self.request.config_dict[keys.REDIS],
            artist_id=artist_id,
            track_id=track_id,
            visitor=visitor(self.request),
        )
        return ok(self.request, play)


def routes(settings: Settings) -> list[web.AbstractRouteDef]:
    return [
        web.view("/v1/profile/{artist_id}/portfolio", PortfolioView),
        web.view("/v1/profile/tracks/upload", TrackUploadView),
        web.view("/v1/profile/tracks/order", TrackOrderView),
        web.view("/v1/profile/tracks", TracksView),
        web.view("/v1/profile/tracks/{track_id}", TrackView),
        web.view("/v1/profile/{artist_id}/tracks/{track_id}/play", TrackPlayView),
    ]
