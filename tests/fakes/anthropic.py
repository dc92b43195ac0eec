"""A local Anthropic Messages API: `POST /v1/messages` with the real request checks and shapes.

It authenticates like the real API (the key in `x-api-key`, or as `Authorization: Bearer`,
which is what the 2.x SDK sends), requires `anthropic-version`, validates the body and
answers with a Messages API object whose text a test sets. Errors use Anthropic's shape
`{"type": "error", "error": {"type": …, "message": …}}`; besides the base failures a test
can inject `"overloaded"` (529 `overloaded_error`, Claude's busiest answer).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any, Literal, cast

import pytest
from aiohttp import web
from pydantic import SecretStr

from tests.fakes.base import FailureKind, FakeServer
from umbrella.config import Settings

AnthropicFailure = FailureKind | Literal["overloaded"]

FAKE_ANTHROPIC_KEY = "sk-ant-fake-" + "0" * 24

# The error `type` Anthropic sends with each status.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def error_response(status: int, message: str) -> web.Response:
    """An error in the Messages API's own shape."""
    body = {
        "type": "error",
        "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message},
    }
    response = web.json_response(body, status=status)
    response.headers["request-id"] = f"req_{secrets.token_hex(12)}"
    return response


class FakeAnthropic(FakeServer):
    """Anthropic's Messages API, enough of it for Violet."""

    name = "anthropic"

    def __init__(self, api_key: str = FAKE_ANTHROPIC_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.reply_text = "Hi, I'm Violet. Here is a draft for you."
        self.stop_reason = "end_turn"
        # None: counted from the request and the reply (roughly 4 characters per token).
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None

    def fail(self, kind: AnthropicFailure, times: int = 1) -> None:
        """Like the base, plus `"overloaded"`: a 529 `overloaded_error`."""
        self._failures.extend(cast(list[FailureKind], [kind] * times))

    def failure_response(self, kind: FailureKind) -> web.Response:
        status = {"429": 429, "500": 500, "overloaded": 529}[cast(str, kind)]
        messages = {
            429: "Number of request tokens has exceeded your per-minute rate limit.",
            500: "Internal server error.",
            529: "Overloaded",
        }
        return error_response(status, messages[status])

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/messages", self._messages)

    def messages_requests(self) -> list[Any]:
        """The bodies of every `POST /v1/messages` received (failed ones included)."""
        return [r.json() for r in self.received("/v1/messages")]

    async def _messages(self, request: web.Request) -> web.Response:
        key = request.headers.get("x-api-key")
        authorization = request.headers.get("Authorization", "")
        if key is None and authorization.startswith("Bearer "):
            key = authorization.removeprefix("Bearer ")
        if not key:
            return error_response(401, "x-api-key header is required")
        if not secrets.compare_digest(key, self.api_key):
            return error_response(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return error_response(400, "anthropic-version: header is required")
        try:
            body = await request.json()
        except ValueError:
            return error_response(400, "There was an issue with the format of your JSON body.")
        problem = _invalid(body)
        if problem:
            return error_response(400, problem)
        if not str(body["model"]).startswith("claude-"):
            return error_response(404, f"model: {body['model']}")
        input_tokens = self.input_tokens
        if input_tokens is None:
            input_tokens = max(1, len(str(body.get("system", "")) + str(body["messages"])) // 4)
        output_tokens = self.output_tokens
        if output_tokens is None:
            output_tokens = max(1, len(self.reply_text) // 4)
        return web.json_response(
            {
                "id": f"msg_{secrets.token_hex(12)}",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [{"type": "text", "text": self.reply_text}],
                "stop_reason": self.stop_reason,
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
            },
            headers={"request-id": f"req_{secrets.token_hex(12)}"},
        )


def _invalid(body: Any) -> str | None:
    """What the real API would say about this body, or None when it is acceptable."""
    if not isinstance(body, dict):
        return "body: Input should be an object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return "max_tokens: Field required and must be a positive integer"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in {"user", "assistant"}:
            return f"messages.{index}.role: Input should be 'user' or 'assistant'"
        content = message.get("content")
        if not (isinstance(content, str) and content) and not (
            isinstance(content, list) and content
        ):
            return f"messages.{index}.content: must be a non-empty string or list of blocks"
    if messages[0]["role"] != "user":
        return "messages: first message must use the 'user' role"
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        return "system: Input should be a valid string or list of text blocks"
    return None


def use_fake_anthropic(settings: Settings, fake: FakeAnthropic, **update: Any) -> Settings:
    """`settings` pointing Violet's model at the fake (a frozen copy; `update` wins)."""
    values: dict[str, Any] = {
        "anthropic_api_key": SecretStr(fake.api_key),
        "anthropic_base_url": fake.url,
        "llm_timeout_seconds": 2.0,
    }
    values.update(update)
    return settings.model_copy(update=values)


@pytest.fixture
async def fake_anthropic() -> AsyncIterator[FakeAnthropic]:
    """A started fake Anthropic API, stopped after the test."""
    async with FakeAnthropic() as fake:
        yield fake


@pytest.fixture
def anthropic_settings(settings: Settings, fake_anthropic: FakeAnthropic) -> Settings:
    """This test's settings with Violet's model at the fake Anthropic (2 s timeout)."""
    return use_fake_anthropic(settings, fake_anthropic)
