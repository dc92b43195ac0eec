"""HTTP handlers of the studio (journal and goals): thin, one service call each."""

from __future__ import annotations

from typing import Any, NoReturn, TypeAlias
from uuid import UUID

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r201, r400, r401, r403, r404
from pydantic import ValidationError

from umbrella import keys
from umbrella.config import Settings
from umbrella.core.errors import ValidationFailed
from umbrella.core.pagination import DEFAULT_LIMIT, Limit, page_of
from umbrella.core.storage import Storage
from umbrella.studio import goals, journal
from umbrella.studio.schemas import (
    BLOCK_TYPES,
    DeletedOut,
    GoalIn,
    GoalOut,
    GoalUpdateIn,
    JournalEntryIn,
    JournalEntryOut,
    JournalEntrySummaryOut,
    JournalEntryUpdateIn,
)
from umbrella.web.envelope import ErrorEnvelope, envelope_of, ok
from umbrella.web.views import ApiView, field_name, validation_failed

ERRORS: TypeAlias = (
    r400[ErrorEnvelope] | r401[ErrorEnvelope] | r403[ErrorEnvelope] | r404[ErrorEnvelope]
)


def _block_error(error: ValidationError) -> ValidationFailed:
    """Name a block's field as `blocks.N.field`: pydantic puts the block's type in between
    (`blocks.2.image.file_id`) and reports an unknown type on the block itself."""
    first = error.errors()[0]
    loc = first["loc"]
    if len(loc) < 2 or loc[0] != "blocks" or not isinstance(loc[1], int):
        return validation_failed(error)
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return ValidationFailed(
            f"Unknown block type: use one of {', '.join(BLOCK_TYPES)}.",
            field=f"blocks.{loc[1]}.type",
        )
    if len(loc) > 3 and loc[2] in BLOCK_TYPES:
        loc = (*loc[:2], *loc[3:])
    # Phrased as every other error, then named by the block's own field.
    phrased = validation_failed(error)
    phrased.field = field_name(loc)
    return phrased


class _StudioView(ApiView):
    @property
    def storage(self) -> Storage:
        storage: Storage = self.request.config_dict[keys.STORAGE]
        return storage

    async def on_validation_error(self, exception: ValidationError, context: Any) -> NoReturn:
        raise _block_error(exception)


class JournalView(_StudioView):
    async def get(
        self, /, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
    ) -> r200[envelope_of(page_of(JournalEntrySummaryOut))] | ERRORS:
        """Your journal entries, newest first, as summaries (GET one for its blocks).

        Tags: studio
        """
        page = await journal.list_journal_entries(
            settings=self.settings,
            caller=self.caller,
            cursor=cursor,
            limit=limit,
        )
        return ok(self.request, page)

    async def post(self, body: JournalEntryIn) -> r201[envelope_of(JournalEntryOut)] | ERRORS:
        """Write an entry: text, image, audio and video blocks (media: your own files).

        Tags: studio
        """
        entry = await journal.create_journal_entry(
            storage=self.storage,
            caller=self.caller,
            title=body.title,
            blocks=body.blocks,
        )
        return ok(self.request, entry, status=201)


class JournalEntryView(_StudioView):
    async def get(self, entry_id: UUID, /) -> r200[envelope_of(JournalEntryOut)] | ERRORS:
        """One of your entries; media blocks carry a download link valid for one hour.

        Tags: studio
        """
        entry = await journal.get_journal_entry(
            storage=self.storage,
            caller=self.caller,
            entry_id=entry_id,
        )
        return ok(self.request, entry)

    async def put(
        self, entry_id: UUID, /, body: JournalEntryUpdateIn
    ) -> r200[envelope_of(JournalEntryOut)] | ERRORS:
        """Replace the title and/or the whole list of blocks; what you leave out stays.

        Tags: studio
        """
        entry = await journal.update_journal_entry(
            storage=self.storage,
            caller=self.caller,
            entry_id=entry_id,
            # The models themselves, not dumps: the service reads each block's type.
            changes={name: getattr(body, name) for name in body.model_fields_set},
        )
        return ok(self.request, entry)

    async def delete(self, entry_id: UUID, /) -> r200[envelope_of(DeletedOut)] | ERRORS:
        """Delete an entry; its files stay in your file manager.

        Tags: studio
        """
        await journal.delete_journal_entry(caller=self.caller, entry_id=entry_id)
        return ok(self.request, DeletedOut(deleted=True))


class GoalsView(_StudioView):
    async def get(
        self,
        /,
        completed: bool | None = None,
        cursor: str | None = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> r200[envelope_of(page_of(GoalOut))] | ERRORS:
        """Your goals, newest first; `completed` true or false for only those.

        Tags: analytics
        """
        page = await goals.list_goals(
            settings=self.settings,
            caller=self.caller,
            completed=completed,
            cursor=cursor,
            limit=limit,
        )
        return ok(self.request, page)

    async def post(self, body: GoalIn) -> r201[envelope_of(GoalOut)] | ERRORS:
        """Set a goal: earnings, gigs, followers and tracks are measured daily; custom is yours.

        Tags: analytics
        """
        goal = await goals.create_goal(
            caller=self.caller,
            title=body.title,
            description=body.description,
            goal_type=body.goal_type,
            target_value=body.target_value,
            current_value=body.current_value,
            target_date=body.target_date,
        )
        return ok(self.request, goal, status=201)


class GoalView(_StudioView):
    async def put(
        self, goal_id: UUID, /, body: GoalUpdateIn
    ) -> r200[envelope_of(GoalOut)] | ERRORS:
        """Change a goal; what you leave out stays (its type never changes).

        Tags: analytics
        """
        goal = await goals.update_goal(
            caller=self.caller,
            goal_id=goal_id,
            changes=body.model_dump(include=body.model_fields_set),
        )
        return ok(self.request, goal)

    async def delete(self, goal_id: UUID, /) -> r200[envelope_of(DeletedOut)] | ERRORS:
        """Delete a goal.

        Tags: analytics
        """
        await goals.delete_goal(caller=self.caller, goal_id=goal_id)
        return ok(self.request, DeletedOut(deleted=True))


def routes(settings: Settings) -> list[web.AbstractRouteDef]:
    return [
        web.view("/v1/journal", JournalView),
        web.view("/v1/journal/{entry_id}", JournalEntryView),
        web.view("/v1/analytics/goals", GoalsView),
        web.view("/v1/analytics/goals/{goal_id}", GoalView),
    ]
