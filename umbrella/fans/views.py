"""HTTP handlers of fans' contacts, unsubscribe links and the providers' webhooks: thin."""

from __future__ import annotations

import html
from typing import Any, ClassVar, TypeAlias
from urllib.parse import quote
from uuid import UUID

from aiohttp import BodyPartReader, web
from aiohttp.streams import StreamReader
from aiohttp_pydantic.oas.typing import r200, r201, r400, r401, r403, r404, r409, r413, r503

from umbrella.config import Settings
from umbrella.core.errors import PayloadTooLarge, ValidationFailed
from umbrella.core.pagination import DEFAULT_LIMIT, Limit, page_of
from umbrella.fans import import_rows, imports, service, suppressions, webhooks
from umbrella.fans.schemas import (
    ContactListCreateIn,
    ContactListOut,
    ContactListUpdateIn,
    ContactMemberOut,
    DeletedOut,
    ImportReportOut,
)
from umbrella.fans.unsubscribe import UNSUBSCRIBE_PATH
from umbrella.web.envelope import ErrorEnvelope, envelope_of, ok
from umbrella.web.jsonbody import load_json_object
from umbrella.web.middlewares import query_secret
from umbrella.web.ratelimit import CONTACT_IMPORTS, client_ip
from umbrella.web.views import ApiView

ERRORS: TypeAlias = (
    r400[ErrorEnvelope] | r401[ErrorEnvelope] | r403[ErrorEnvelope] | r404[ErrorEnvelope]
)
CHUNK = 64 * 1024


class ContactsView(ApiView):
    async def get(
        self, /, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
    ) -> r200[envelope_of(page_of(ContactListOut))] | ERRORS:
        """Your contact lists by name, with member counts and who each channel would reach.

        `opted_in.email` (`.sms`): members opted in to that channel whose address is not
        suppressed (unsubscribed, bounced, complained, STOP).

        Tags: fans
        """
        page = await service.list_lists(
            settings=self.settings,
            caller=self.caller,
            cursor=cursor,
            limit=limit,
        )
        return ok(self.request, page)


class ContactListsView(ApiView):
    async def post(
        self, body: ContactListCreateIn
    ) -> r201[envelope_of(ContactListOut)] | ERRORS | r409[ErrorEnvelope]:
        """Make a contact list (names unique among your lists: 409 `name`).

        Tags: fans
        """
        made = await service.create_list(
            caller=self.caller,
            name=body.name,
            description=body.description,
        )
        return ok(self.request, made, status=201)


class ContactListView(ApiView):
    async def get(self, list_id: UUID, /) -> r200[envelope_of(ContactListOut)] | ERRORS:
        """One of your lists with its counts.

        Tags: fans
        """
        found = await service.get_list(caller=self.caller, list_id=list_id)
        return ok(self.request, found)

    async def put(
        self, list_id: UUID, /, body: ContactListUpdateIn
    ) -> r200[envelope_of(ContactListOut)] | ERRORS | r409[ErrorEnvelope]:
        """Rename a list and/or change its description (null clears it).

        Tags: fans
        """
        changed = await service.update_list(
            caller=self.caller,
            list_id=list_id,
            changes=body.model_dump(include=body.model_fields_set),
        )
        return ok(self.request, changed)

    async def delete(
        self, list_id: UUID, /
    ) -> r200[envelope_of(DeletedOut)] | ERRORS | r409[ErrorEnvelope]:
        """Delete a list and its members (409 while a scheduled or sending broadcast uses it).

        Suppressions stay: they belong to you, not to the list.

        Tags: fans
        """
        await service.delete_list(caller=self.caller, list_id=list_id)
        return ok(self.request, DeletedOut(deleted=True))


class ContactMembersView(ApiView):
    async def get(
        self, list_id: UUID, /, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
    ) -> r200[envelope_of(page_of(ContactMemberOut))] | ERRORS:
        """A list's members, newest first, with their consent and suppression.

        Tags: fans
        """
        page = await service.list_members(
            settings=self.settings,
            caller=self.caller,
            list_id=list_id,
            cursor=cursor,
            limit=limit,
        )
        return ok(self.request, page)


class ContactMemberView(ApiView):
    async def delete(
        self, list_id: UUID, member_id: UUID, /
    ) -> r200[envelope_of(DeletedOut)] | ERRORS:
        """Take a member off a list (a suppression of their address stays).

        Tags: fans
        """
        await service.delete_member(
            caller=self.caller,
            list_id=list_id,
            member_id=member_id,
        )
        return ok(self.request, DeletedOut(deleted=True))


async def _read_capped(stream: StreamReader | BodyPartReader, limit: int) -> bytes:
    """The whole body (or part), refusing it with 413 as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if isinstance(stream, BodyPartReader):
            chunk = await stream.read_chunk(CHUNK)
        else:
            chunk = await stream.read(CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"An import is at most {limit // (1024 * 1024)} MB: split the file.",
                field="file",
            )
        chunks.append(chunk)


class ContactImportView(ApiView):
    # Bigger than the API's usual limit (UMBRELLA_MAX_BODY_BYTES): the body limit middleware
    # honours this, and `_read_capped` enforces it on bodies of undeclared length.
    max_body_bytes: ClassVar[int] = import_rows.MAX_IMPORT_BYTES
    # Each import may parse and write 100,000 rows: counted per user per hour too.
    rate_limits: ClassVar[tuple[str, ...]] = (CONTACT_IMPORTS,)

    async def post(
        self,
        /,
        list_id: UUID | None = None,
        list_name: str | None = None,
        region: str | None = None,
    ) -> r200[envelope_of(ImportReportOut)] | ERRORS | r413[ErrorEnvelope]:
        """Import contacts into a list (`list_id`, or `list_name`, made if new), up to 100,000.

        Three forms, at most 20 MB: a `text/csv` body; `multipart/form-data` with the CSV in
        the `file` field (and `list_id`/`list_name`/`region` as fields or in the query); or
        JSON `{"list_id" | "list_name", "region"?, "contacts": [{...}]}`. CSV needs a header
        row; the columns are email, phone, name, email_opt_in, sms_opt_in, timezone, city.
        Phones without a country code are read in `region` (default US). Rows that fail are
        reported (`rejected`), the others imported. See docs/fans.md.

        Tags: fans
        """
        kind = self.request.content_type
        fields: dict[str, Any] = {"list_id": list_id, "list_name": list_name, "region": region}
        if kind == "application/json":
            data = load_json_object(
                await _read_capped(self.request.content, self.max_body_bytes),
                max_depth=self.settings.max_json_depth,
            )
            unknown = [key for key in data if key not in {*fields, "contacts"}]
            if unknown:
                raise ValidationFailed("This field is not allowed.", field=unknown[0])
            fields.update({key: data[key] for key in fields if data.get(key) is not None})
            rows = import_rows.read_json_contacts(
                data.get("contacts"), region=import_rows.region_of(_str(fields, "region"))
            )
        elif kind in {"text/csv", "application/csv"}:
            csv_bytes = await _read_capped(self.request.content, self.max_body_bytes)
            rows = import_rows.read_csv(csv_bytes, region=import_rows.region_of(region))
        elif kind == "multipart/form-data":
            csv_bytes = await self._multipart(fields)
            rows = import_rows.read_csv(
                csv_bytes, region=import_rows.region_of(_str(fields, "region"))
            )
        else:
            raise ValidationFailed(
                "Send a text/csv body, multipart/form-data with a file field, or JSON.",
                field="body",
            )
        report = await imports.create_import(
            caller=self.caller,
            list_id=_uuid(fields, "list_id"),
            list_name=_str(fields, "list_name"),
            rows=rows,
            client_ip=client_ip(self.request, trusted_proxy_hops=self.settings.trusted_proxy_hops),
        )
        return ok(self.request, report)

    async def _multipart(self, fields: dict[str, Any]) -> bytes:
        """The `file` part's bytes; `list_id`, `list_name` and `region` parts go to `fields`."""
        reader = await self.request.multipart()
        csv_bytes: bytes | None = None
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue  # a nested multipart is nothing we asked for
            if part.name == "file":
                csv_bytes = await _read_capped(part, self.max_body_bytes)
            elif part.name in fields:
                value = (await _read_capped(part, 1024)).decode("utf-8", "replace").strip()
                fields[part.name] = value or fields[part.name]
        if csv_bytes is None:
            raise ValidationFailed("Send the CSV in a field named file.", field="file")
        return csv_bytes


def _str(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed("Must be text.", field=name)
    return value


def _uuid(fields: dict[str, Any], name: str) -> UUID | None:
    value = fields.get(name)
    if value is None or isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise ValidationFailed("Must be a list's id (a UUID).", field=name) from None


# -- unsubscribe (public) -----------------------------------------------------------------------

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


def _unsubscribed_page(artist: str) -> web.Response:
    return _page(
        "Unsubscribed", f"<h1>You are unsubscribed</h1><p>{artist} will not email you again.</p>"
    )


class UnsubscribeView(ApiView):
    public = True
    # Mail apps' one-click POSTs arrive from a few provider addresses for many readers.
    rate_limit_exempt = True

    async def get(self, token: str = "") -> r200 | r404[ErrorEnvelope]:
        """The page of an email's unsubscribe link: one button that POSTs (nothing changes yet).

        A GET never unsubscribes: mail scanners open links before the reader does.

        Status Codes:
            200: `text/html`, the confirmation page.
            404: A forged or stale link (field `token`).

        Tags: fans
        """
        secret = query_secret(self.request, "token") or ""
        found = await suppressions.get_unsubscription(settings=self.settings, token=secret)
        artist = html.escape(found.artist_name)
        if found.unsubscribed:
            return _page(
                "Unsubscribed",
                f"<h1>You are unsubscribed</h1><p>{artist} will not email you again.</p>",
            )
        action = html.escape(f"{UNSUBSCRIBE_PATH}?token={quote(secret, safe='')}")
        return _page(
            "Unsubscribe",
            f"<h1>Unsubscribe from {artist}?</h1>"
            f"<p>You will get no more emails from {artist} through Umbrella.</p>"
            f'<form method="post" action="{action}"><button type="submit">Unsubscribe</button>'
            "</form>",
        )

    async def post(self, token: str = "") -> r200 | r404[ErrorEnvelope]:
        """Unsubscribe, at once: the button of the page, or a mail app's one-click (RFC 8058).

        The body (`List-Unsubscribe=One-Click`, or the page's empty form) is not needed:
        the signed token names the delivery. Doing it again changes nothing.

        Status Codes:
            200: `text/html`, unsubscribed.
            404: A forged or stale link (field `token`).

        Tags: fans
        """
        secret = query_secret(self.request, "token") or ""
        found = await suppressions.create_unsubscription(settings=self.settings, token=secret)
        return _unsubscribed_page(html.escape(found.artist_name))


# -- provider webhooks (public, signed) ---------------------------------------------------------


class TwilioInboundView(ApiView):
    public = True

    async def post(self) -> r200 | r403[ErrorEnvelope] | r503[ErrorEnvelope]:
        """Texts to the fan sender (Twilio's "A message comes in" webhook): STOP and START.

        Signed with `X-Twilio-Signature` (the auth token): a bad signature gets 403 and
        changes nothing. STOP (STOPALL, UNSUBSCRIBE, END, QUIT, CANCEL, OPTOUT, REVOKE) stops
        every artist's texts to that number; START (UNSTOP) lifts it. Answers empty TwiML.

        Tags: webhooks
        """
        form = await self.request.post()
        params = {key: str(value) for key, value in form.items()}
        webhooks.verify_twilio(
            self.settings,
            path_qs=str(self.request.rel_url),
            params=params,
            signature=self.request.headers.get("X-Twilio-Signature"),
        )
        await webhooks.handle_twilio_inbound(settings=self.settings, params=params)
        return web.Response(text=webhooks.EMPTY_TWIML, content_type="text/xml")


class ResendWebhookView(ApiView):
    public = True

    async def post(self) -> r200 | r400[ErrorEnvelope] | r403[ErrorEnvelope] | r503[ErrorEnvelope]:
        """Resend's events (signed by Svix): a hard bounce or a complaint suppresses the address.

        503 until `UMBRELLA_RESEND_WEBHOOK_SECRET` is set (Resend retries for days).

        Tags: webhooks
        """
        body = await self.request.read()
        webhooks.verify_resend(self.settings, headers=self.request.headers, body=body)
        reason = await webhooks.handle_resend_event(body=body)
        return ok(self.request, {"suppressed": reason is not None, "reason": reason})


def routes(settings: Settings) -> list[web.AbstractRouteDef]:
    return [
        web.view("/v1/contacts", ContactsView),
        web.view("/v1/contacts/import", ContactImportView),
        web.view("/v1/contacts/lists", ContactListsView),
        web.view("/v1/contacts/lists/{list_id}", ContactListView),
        web.view("/v1/contacts/lists/{list_id}/members", ContactMembersView),
        web.view("/v1/contacts/lists/{list_id}/members/{member_id}", ContactMemberView),
        web.view(UNSUBSCRIBE_PATH, UnsubscribeView),
        web.view("/v1/webhooks/twilio/inbound", TwilioInboundView),
        web.view("/v1/webhooks/resend", ResendWebhookView),
    ]
