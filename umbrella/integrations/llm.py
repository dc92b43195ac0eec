"""Violet's model: Claude through the `anthropic` SDK, one call per prompt, no retries.

Violet answers a person who is waiting, so a busy or broken model becomes a 503 at once
(`DependencyUnavailable`, SPEC §3.8) instead of a retry loop; a request the API refuses
(400/401/403/404) is our bug or a bad key and becomes a permanent `ProviderError`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from umbrella.config import Settings
from umbrella.core.errors import DependencyUnavailable, NotConfigured
from umbrella.integrations.base import ProviderCall, ProviderError, is_retryable_status
from umbrella.observability.metrics import Metrics

if TYPE_CHECKING:
    import anthropic
    from anthropic.types import Message, TextBlockParam

log = logging.getLogger(__name__)

SERVICE = "anthropic"
DEPENDENCY = "claude"
# SPEC §3.8: what the artist reads when Claude is down.
UNAVAILABLE_MESSAGE = "Violet is temporarily unavailable. Try again in a few minutes."


@dataclass(frozen=True)
class LlmReply:
    """The model's answer and what it cost."""

    text: str
    input_tokens: int
    output_tokens: int
    model: str
    stop_reason: str | None


class Llm:
    """Claude for Violet (D-046): `complete()` sends one system prompt and one user prompt."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.model = settings.llm_model
        self.max_tokens = settings.llm_max_tokens
        self._metrics = metrics
        self._client: anthropic.AsyncAnthropic | None = None
        if settings.anthropic_api_key is not None and settings.anthropic_api_key.get_secret_value():
            # Imported only when Violet is on: the SDK is 3,000 modules and 46 MB of every
            # process that loads it (docs/performance.md), and most processes never call it.
            import anthropic

            self._client = anthropic.AsyncAnthropic(
                api_key=settings.anthropic_api_key.get_secret_value(),
                base_url=settings.anthropic_base_url,
                timeout=settings.llm_timeout_seconds,
                # Our caller decides about retrying: Violet must answer fast or say so.
                max_retries=0,
            )

    @property
    def configured(self) -> bool:
        """False without an API key: every call then answers 503."""
        return self._client is not None

    async def complete(
        self, *, system: str, prompt: str, data: str | None = None, max_tokens: int | None = None
    ) -> LlmReply:
        """Ask the model once; raise `DependencyUnavailable` when it cannot answer now.

        `data` (text others wrote, already delimited) goes in the user turn before the
        prompt, as a block of its own: never in `system`, which only we write.
        """
        if self._client is None:
            raise NotConfigured(DEPENDENCY, UNAVAILABLE_MESSAGE)
        import anthropic  # loaded by __init__ already: a dictionary lookup

        content: str | list[TextBlockParam] = prompt
        if data is not None:
            content = [{"type": "text", "text": data}, {"type": "text", "text": prompt}]
        call = ProviderCall(self._metrics, SERVICE)
        try:
            message = await self._client.messages.create(
                model=self.model,
                max_tokens=max_tokens or self.max_tokens,
                system=system,
                messages=[{"role": "user", "content": content}],
            )
            reply = _reply(message)
        except anthropic.APIStatusError as error:
            self._fail_status(call, error)
        except (anthropic.APIError, ValueError) as error:
            # A timeout, a refused connection, or a body that is not a Message.
            call.record(ProviderError(SERVICE, type(error).__name__, retryable=True))
            log.warning(
                "anthropic call failed", extra={"service": SERVICE, "error": type(error).__name__}
            )
            raise DependencyUnavailable(DEPENDENCY, UNAVAILABLE_MESSAGE) from error
        call.record(None)
        return reply

    def _fail_status(self, call: ProviderCall, error: anthropic.APIStatusError) -> NoReturn:
        status = error.status_code
        detail = f"HTTP {status} {error.type or 'error'}"
        failure = ProviderError(
            SERVICE, detail, retryable=is_retryable_status(status), status=status
        )
        call.record(failure)
        extra = {"service": SERVICE, "status": status, "provider_request_id": error.request_id}
        if failure.retryable:
            # 429, 529 overloaded, 5xx: Claude is busy or down for a while.
            log.warning("anthropic unavailable", extra=extra)
            raise DependencyUnavailable(DEPENDENCY, UNAVAILABLE_MESSAGE) from failure
        # A request the API refuses is our bug or a bad key: loud, and never the key or prompt.
        log.error("anthropic refused the request", extra={**extra, "error_type": error.type})
        raise failure from error

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        if self._client is not None:
            await self._client.close()


def _reply(message: Message) -> LlmReply:
    """The text and usage of a Message; ValueError when the body is not one (the SDK is lenient)."""
    from anthropic.types import TextBlock, Usage

    content: object = message.content
    usage: object = message.usage
    if not isinstance(content, list) or not isinstance(usage, Usage):
        raise ValueError("malformed message")
    return LlmReply(
        text="".join(block.text for block in content if isinstance(block, TextBlock)),
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        model=message.model,
        stop_reason=message.stop_reason,
    )


def end_of_life(model: str) -> str | None:
    """When the installed SDK says `model` reaches end of life, or None if it is not deprecated."""
    try:
        # The SDK's own table, the one its calls warn from; private, so an SDK without it
        # means only that we cannot tell.
        from anthropic._data import DEPRECATED_MODELS
    except ImportError:
        return None
    return DEPRECATED_MODELS.get(model)


@asynccontextmanager
async def llm_client(settings: Settings, metrics: Metrics) -> AsyncIterator[Llm]:
    """The model client of one process, closed on exit."""
    client = Llm(settings, metrics)
    if not client.configured:
        log.warning("UMBRELLA_ANTHROPIC_API_KEY is not set: Violet will answer 503")
    elif (until := end_of_life(client.model)) is not None:
        # Past that date every prompt fails: the operator must move before it, not after.
        log.warning(
            f"UMBRELLA_LLM_MODEL {client.model} is deprecated and reaches end of life on "
            f"{until}: set a current model",
            extra={"model": client.model, "end_of_life": until},
        )
    try:
        yield client
    finally:
        await client.aclose()
