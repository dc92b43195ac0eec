"""HTTP handlers of Violet: thin, one service call each."""

from __future__ import annotations

from aiohttp import web
from aiohttp_pydantic.oas.typing import r200, r400, r401, r403, r404, r429, r503

from umbrella import keys
from umbrella.config import Settings
from umbrella.violet import service, templates
from umbrella.violet.schemas import PromptIn, PromptOut, ToolkitOut, UsageOut
from umbrella.web.envelope import ErrorEnvelope, envelope_of, ok
from umbrella.web.views import ApiView


class PromptView(ApiView):
    async def post(
        self, body: PromptIn
    ) -> (
        r200[envelope_of(PromptOut)]
        | r400[ErrorEnvelope]
        | r401[ErrorEnvelope]
        | r403[ErrorEnvelope]
        | r404[ErrorEnvelope]
        | r429[ErrorEnvelope]
        | r503[ErrorEnvelope]
    ):
        """Ask Violet (artists only): the answer, its token usage and today's usage.

        `context` picks the template (draft_message, gig_inquiry, songwriting,
        career_advice; anything else is career_advice); each is grounded in your profile.
        For gig_inquiry, `gig_id` pre-fills the gig's facts (D-076). D-062: 50 prompts per
        UTC day, counted before the model is called; the 51st gets 429 with `Retry-After`
        (seconds to midnight UTC). A failed answer (503) is not counted.

        Tags: violet
        """
        answer = await service.create_prompt(
            redis=self.request.config_dict[keys.REDIS],
            llm=self.request.config_dict[keys.LLM],
            metrics=self.request.config_dict[keys.METRICS],
            caller=self.caller,
            prompt=body,
        )
        return ok(self.request, answer)


class UsageView(ApiView):
    async def get(
        self,
    ) -> r200[envelope_of(UsageOut)] | r401[ErrorEnvelope] | r403[ErrorEnvelope]:
        """Your Violet prompts today: used, limit, remaining and when the limit resets (D-062).

        Tags: violet
        """
        usage = await service.get_usage(
            redis=self.request.config_dict[keys.REDIS],
            metrics=self.request.config_dict[keys.METRICS],
            caller=self.caller,
        )
        return ok(self.request, usage)


class ToolkitView(ApiView):
    async def get(self) -> r200[envelope_of(ToolkitOut)] | r401[ErrorEnvelope]:
        """Violet's categories and templates, with what each is for.

        Tags: violet
        """
        return ok(self.request, templates.toolkit())


def routes(settings: Settings) -> list[web.AbstractRouteDef]:
    return [
        web.view("/v1/violet/prompt", PromptView),
        web.view("/v1/violet/usage", UsageView),
        web.view("/v1/violet/toolkit", ToolkitView),
    ]
