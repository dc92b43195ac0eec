"""HTTP handlers: thin, one service call each."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from aiohttp import hdrs, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import Payload
from aiohttp_pydantic.oas.typing import r200, r400, r401, r429, r503

from umbrella import keys
from umbrella.config import Settings
from umbrella.privacy import export, service
from umbrella.privacy.export_gate import ExportGate
from umbrella.privacy.schemas import (
    AccountDeletedOut,
    DeleteAccountIn,
    ExportOut,
    SettingsOut,
    SettingsUpdate,
)
from umbrella.web.envelope import ErrorEnvelope, dumps, envelope_of, meta, ok
from umbrella.web.views import ApiView

# A client that takes no byte of the download for this long has it cut (its slot freed).
# Privacy's own key (set by umbrella/app.py): keys.py sits below the domains and names none.
EXPORT_GATE = web.AppKey("export_gate", ExportGate)
EXPORT_IDLE_SECONDS = 60


class ExportPayload(Payload):
    """A finished export sent from its file: gzip as stored, or decompressed on the way.

    A plain Response body, not a prepared StreamResponse: the middlewares still add their
    headers (request id, CORS) before anything is sent. The file holds no database
    connection, so a slow reader costs only its own socket and file.
    """

    def __init__(self, exported: export.ExportFile, *, compressed: bool) -> None:
        super().__init__(exported, content_type="application/json; charset=utf-8")
        self._exported = exported
        self._compressed = compressed

    @property
    def size(self) -> int:
        return self._exported.size if self._compressed else self._exported.plain_size

    async def write(self, writer: AbstractStreamWriter) -> None:
        try:
            for chunk in self._exported.chunks(compressed=self._compressed):
                # A write waits while the client's window is full: a reader that takes
                # nothing for EXPORT_IDLE_SECONDS is cut rather than held for ever.
                async with asyncio.timeout(EXPORT_IDLE_SECONDS):
                    await writer.write(chunk)
                await self._exported.touch()
        finally:
            await asyncio.shield(self._exported.close())

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a streamed export is written, not decoded")


class SettingsView(ApiView):
    async def get(self) -> r200[envelope_of(SettingsOut)] | r401[ErrorEnvelope]:
        """Your notification preferences and the phone number texts go to.

        Tags: settings
        """
        settings = await service.get_settings(caller=self.caller)
        return ok(self.request, settings)

    async def put(
        self, body: SettingsUpdate
    ) -> r200[envelope_of(SettingsOut)] | r400[ErrorEnvelope] | r401[ErrorEnvelope]:
        """Change notification preferences or the phone number; fields left out are kept.

        Tags: settings
        """
        settings = await service.update_settings(
            caller=self.caller,
            changes=body.model_dump(exclude_unset=True),
            redis=self.request.config_dict[keys.REDIS],
        )
        return ok(self.request, settings)


class ExportView(ApiView):
    async def get(
        self,
    ) -> (
        r200[envelope_of(ExportOut)]
        | r401[ErrorEnvelope]
        | r429[ErrorEnvelope]
        | r503[ErrorEnvelope]
    ):
        """Download everything stored about you as JSON (a file named umbrella-export-<date>.json).

        One key per table, every column of every row that is yours, read from one consistent
        snapshot, then sent, so a large account (a big fan list) downloads in full. Secrets
        (token hashes) are left out, files are listed with their storage keys. One export
        per user at a time: a second one while the first is prepared or downloaded is 429.

        Tags: settings
        """
        exported = await export.export_user_data(
            caller=self.caller,
            gate=self.request.config_dict[EXPORT_GATE],
            meta_json=dumps(meta(self.request)),
        )
        filename = f"umbrella-export-{datetime.now(UTC).date().isoformat()}.json"
        # Stored compressed (JSON of this shape shrinks about tenfold): sent as it is to
        # clients that accept gzip, decompressed on the way for the others.
        compressed = "gzip" in self.request.headers.get(hdrs.ACCEPT_ENCODING, "").lower()
        headers = {
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "Vary": "Accept-Encoding",
        }
        if compressed:
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=ExportPayload(exported, compressed=compressed), headers=headers)


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
        await service.delete_own_account(
            caller=self.caller, redis=self.request.config_dict[keys.REDIS]
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
