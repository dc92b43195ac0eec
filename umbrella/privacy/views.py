"""HTTP handlers: thin, one service call each."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload
from aiohttp_pydantic.oas.typing import r200, r400, r401, r503

from umbrella import keys
from umbrella.config import Settings
from umbrella.privacy import service
from umbrella.privacy.schemas import (
    AccountDeletedOut,
    DeleteAccountIn,
    ExportOut,
    SettingsOut,
    SettingsUpdate,
)
from umbrella.web.envelope import ErrorEnvelope, dumps, envelope_of, meta, ok
from umbrella.web.views import ApiView


class EnvelopeStream(Payload):
    """The success envelope around `data` streamed in chunks, so no copy is held in memory.

    A plain Response body, not a prepared StreamResponse: the middlewares still add their
    headers (request id, CORS) before anything is sent.
    """

    def __init__(self, data: AsyncGenerator[bytes, None], *, meta_json: str) -> None:
        super().__init__(data, content_type="application/json; charset=utf-8")
        self._data = data
        self._suffix = f',"meta":{meta_json}}}'.encode()

    async def write(self, writer: AbstractStreamWriter) -> None:
        # aclosing: a client that goes away mid-download still frees the database snapshot.
        async with contextlib.aclosing(self._data) as chunks:
            await writer.write(b'{"success":true,"data":')
            async for chunk in chunks:
                await writer.write(chunk)
            await writer.write(self._suffix)

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a streamed export is written, not decoded")


class SettingsView(ApiView):
    async def get(self) -> r200[envelope_of(SettingsOut)] | r401[ErrorEnvelope]:
        """Your notification preferences and the phone number texts go to.

        Tags: settings
        """
        settings = await service.get_settings(user_id=self.session.user_id)
        return ok(self.request, settings)

    async def put(
        self, body: SettingsUpdate
    ) -> r200[envelope_of(SettingsOut)] | r400[ErrorEnvelope] | r401[ErrorEnvelope]:
        """Change notification preferences or the phone number; fields left out are kept.

        Tags: settings
        """
        settings = await service.update_settings(
            user_id=self.session.user_id,
            changes=body.model_dump(exclude_unset=True),
            redis=self.request.config_dict[keys.REDIS],
        )
        return ok(self.request, settings)


class ExportView(ApiView):
    async def get(self) -> r200[envelope_of(ExportOut)] | r401[ErrorEnvelope] | r503[ErrorEnvelope]:
        """Download everything stored about you as JSON (a file named umbrella-export-<date>.json).

        One key per table, every column of every row that is yours, read from one consistent
        snapshot; streamed, so a large account (a big fan list) downloads in full. Secrets
        (token hashes) are left out, files are listed with their storage keys.

        Tags: settings
        """
        data = await service.export_user_data(user_id=self.session.user_id)
        filename = f"umbrella-export-{datetime.now(UTC).date().isoformat()}.json"
        response = web.Response(
            body=EnvelopeStream(data, meta_json=dumps(meta(self.request))),
            headers={
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
            },
        )
        # JSON of this shape shrinks about tenfold with gzip, for clients that accept it.
        response.enable_compression()
        return response


class AccountView(ApiView):
    async def delete(
        self, body: DeleteAccountIn
    ) -> r200[envelope_of(AccountDeletedOut)] | r400[ErrorEnvelope] | r401[ErrorEnvelope]:
        """Delete your account and everything it owns, for good (D-102).

        Needs `{"confirm": "DELETE"}`. Every session is signed out; stored files are removed
        by a background job within minutes. Others keep correct numbers: follower counts and
        ratings are recounted, gig slots you held are freed. See docs/account-data.md.

        Tags: settings
        """
        await service.delete_account(
            user_id=self.session.user_id, redis=self.request.config_dict[keys.REDIS]
        )
        response = ok(self.request, AccountDeletedOut(deleted=True, objects_cleanup="queued"))
        response.del_cookie(self.settings.session_cookie_name, path="/")
        return response


def routes(settings: Settings) -> list[web.AbstractRouteDef]:
    return [
        web.view("/v1/settings", SettingsView),
        web.view("/v1/settings/export", ExportView),
        web.view("/v1/settings/account", AccountView),
    ]
