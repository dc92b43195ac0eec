"""HTTP handlers of messaging: thin, one service call each."""

from __future__ import annotations

from typing import ClassVar, TypeAlias
from uuid import UUID

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r201, r304, r400, r401, r404, r413

from umbrella import keys
from umbrella.config import Settings
from umbrella.core.pagination import DEFAULT_LIMIT, Limit
from umbrella.core.storage import Disposition, Storage
from umbrella.messaging import attachments, messages, polling, service
from umbrella.messaging.schemas import (
    AttachmentLinkOut,
    AttachmentUploadIn,
    AttachmentUploadOut,
    ConversationCreateIn,
    ConversationListOut,
    ConversationOut,
    MessageCreateIn,
    MessageOut,
    ReadOut,
    ThreadOut,
)
from umbrella.web.envelope import ErrorEnvelope, envelope_of, ok
from umbrella.web.ratelimit import UPLOAD_URLS
from umbrella.web.views import ApiView

ERRORS: TypeAlias = r400[ErrorEnvelope] | r401[ErrorEnvelope] | r404[ErrorEnvelope]
# The client must ask again each time; the ETag makes asking cheap. A browser keeps the
# answer and revalidates it with If-None-Match on its own, so a web app's plain fetch gets
# 304s without setting a header (which would cost a CORS preflight).
POLL_CACHE_CONTROL = "private, no-cache"


class _MessagingView(ApiView):
    # D-087: no rate limit on in-app messaging (the general write limits skip it).
    rate_limit_exempt = True

    @property
    def storage(self) -> Storage:
        storage: Storage = self.request.config_dict[keys.STORAGE]
        return storage


class ConversationsView(_MessagingView):
    async def get(
        self, /, since: str | None = None, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
    ) -> r200[envelope_of(ConversationListOut)] | r304 | r400[ErrorEnvelope] | r401[ErrorEnvelope]:
        """Your conversations, newest activity first, with your unread counts.

        Poll with `since` (from the last answer) to get only the conversations changed
        since then: an unchanged inbox answers 304 to the last `ETag` in `If-None-Match`,
        without a database query. A browser sends that header by itself from its cache
        (the answer is `private, no-cache`): poll with a plain credentialed fetch, since
        setting the header by hand costs a CORS preflight per poll URL. Page older
        conversations with `cursor` (not with `since`). See docs/messaging.md for the
        polling protocol.

        Tags: messaging
        """
        listing = await polling.list_conversations(
            settings=self.settings,
            redis=self.request.config_dict[keys.REDIS],
            metrics=self.request.config_dict[keys.METRICS],
            storage=self.storage,
            caller=self.caller,
            since=since,
            cursor=cursor,
            limit=limit,
            if_none_match=self.request.headers.get("If-None-Match"),
        )
        headers = {"ETag": listing.etag, "Cache-Control": POLL_CACHE_CONTROL}
        if listing.page is None:
            return web.Response(status=304, headers=headers)
        return ok(self.request, listing.page, headers=headers)

    async def post(
        self, body: ConversationCreateIn
    ) -> r201[envelope_of(ConversationOut)] | r200[envelope_of(ConversationOut)] | ERRORS:
        """Start a conversation with a user (`user_id`) or an artist (`artist_id`).

        There is one conversation per pair, whoever starts it: 201 when it is new, 200 with
        the existing one otherwise.

        Tags: messaging
        """
        conversation, created = await service.create_conversation(
            redis=self.request.config_dict[keys.REDIS],
            storage=self.storage,
            caller=self.caller,
            choice=body,
        )
        return ok(self.request, conversation, status=201 if created else 200)


class ConversationView(_MessagingView):
    async def get(
        self, conversation_id: UUID, /, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
    ) -> r200[envelope_of(ThreadOut)] | ERRORS:
        """A conversation's messages, newest first; `cursor` loads older ones.

        Tags: messaging
        """
        thread = await messages.get_thread(
            settings=self.settings,
            storage=self.storage,
            caller=self.caller,
            conversation_id=conversation_id,
            cursor=cursor,
            limit=limit,
        )
        return ok(self.request, thread)


class MessagesView(_MessagingView):
    async def post(
        self, conversation_id: UUID, /, body: MessageCreateIn
    ) -> r201[envelope_of(MessageOut)] | ERRORS | r413[ErrorEnvelope]:
        """Send a message (D-043: 1 to 2,000 characters after trimming; D-087: no rate limit).

        Add `upload_id` to attach a file uploaded through POST /v1/messages/attachment.
        The recipient gets an email at most once per conversation every 15 minutes.

        Tags: messaging
        """
        sent = await messages.create_message(
            settings=self.settings,
            redis=self.request.config_dict[keys.REDIS],
            storage=self.storage,
            metrics=self.request.config_dict[keys.METRICS],
            caller=self.caller,
            conversation_id=conversation_id,
            message=body,
        )
        return ok(self.request, sent, status=201)


class ReadView(_MessagingView):
    async def post(self, conversation_id: UUID, /) -> r200[envelope_of(ReadOut)] | ERRORS:
        """Mark the messages you received here read (again: no change).

        Tags: messaging
        """
        read = await messages.mark_conversation_read(
            redis=self.request.config_dict[keys.REDIS],
            caller=self.caller,
            conversation_id=conversation_id,
        )
        return ok(self.request, read)


class AttachmentUploadView(_MessagingView):
    # An upload URL is storage, not a message: it counts like every other upload URL.
    rate_limit_exempt = False
    rate_limits: ClassVar[tuple[str, ...]] = (UPLOAD_URLS,)

    async def post(
        self, body: AttachmentUploadIn
    ) -> r201[envelope_of(AttachmentUploadOut)] | ERRORS | r413[ErrorEnvelope]:
        """Presigned POST for a file to send in a conversation (SPEC §3.5 types and sizes).

        Tags: messaging
        """
        ticket = await attachments.create_attachment_upload(
            storage=self.storage,
            metrics=self.request.config_dict[keys.METRICS],
            caller=self.caller,
            upload=body,
        )
        return ok(self.request, ticket, status=201)


class AttachmentView(_MessagingView):
    async def get(
        self,
        conversation_id: UUID,
        message_id: UUID,
        /,
        disposition: Disposition = "attachment",
    ) -> r200[envelope_of(AttachmentLinkOut)] | ERRORS:
        """A one-hour link to a message's file: `attachment` (the default) saves it.

        `disposition=inline` shows it in the browser, for images, audio, video and PDF only
        (another type is 400, field `disposition`), as `GET /v1/files/{file_id}` does.

        Tags: messaging
        """
        link = await attachments.get_attachment_link(
            storage=self.storage,
            caller=self.caller,
            conversation_id=conversation_id,
            message_id=message_id,
            disposition=disposition,
        )
        return ok(self.request, link)


def routes(settings: Settings) -> list[web.AbstractRouteDef]:
    return [
        web.view("/v1/conversations", ConversationsView),
        web.view("/v1/conversations/{conversation_id}", ConversationView),
        web.view("/v1/conversations/{conversation_id}/messages", MessagesView),
        web.view("/v1/conversations/{conversation_id}/read", ReadView),
        web.view(
            "/v1/conversations/{conversation_id}/messages/{message_id}/attachment", AttachmentView
        ),
        web.view("/v1/messages/attachment", AttachmentUploadView),
    ]
