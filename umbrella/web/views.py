"""The base of every `/v1` view: typed access to the app's resources and our error format."""

from __future__ import annotations

import json
from typing import Any, ClassVar, NoReturn, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler
from aiohttp_pydantic import PydanticView
from pydantic import BaseModel, ValidationError

from umbrella import keys
from umbrella.config import Settings
from umbrella.core.caller import Caller
from umbrella.core.errors import Unauthorized, ValidationFailed
from umbrella.web.sessions import SESSION, SessionInfo


def field_name(loc: tuple[int | str, ...]) -> str | None:
    """pydantic's location tuple as the dotted field name the envelope carries."""
    parts = [str(part) for part in loc if part != "__root__"]
    return ".".join(parts) or None


def validation_failed(error: ValidationError) -> ValidationFailed:
    """The first problem of a pydantic error, phrased for a client, naming its field.

    A rule over the whole body (a model validator) has no location: it names `body`.
    """
    first = error.errors()[0]
    field = field_name(first["loc"]) or "body"
    kind = first["type"]
    context = first.get("ctx", {})
    message = first["msg"]
    if kind == "missing":
        message = "This field is required."
    elif kind == "extra_forbidden":
        message = "This field is not allowed."
    elif kind == "value_error":
        # our validators' own words, without pydantic's "Value error, " prefix
        reason = str(context.get("error", message))
        message = reason[:1].upper() + reason[1:].rstrip(".") + "."
    elif kind == "string_too_short" and context.get("min_length") == 1:
        message = "This field must not be empty."
    elif kind in _PLAIN_WORDS:
        message = _PLAIN_WORDS[kind].format(**context)
    return ValidationFailed(message, field=field)


# pydantic's limits in words a person reads in a form (its defaults say "Input should…").
_PLAIN_WORDS = {
    "string_too_long": "At most {max_length} characters.",
    "string_too_short": "At least {min_length} characters.",
    "too_long": "At most {max_length} items.",
    "too_short": "At least {min_length} items.",
    "greater_than_equal": "Must be at least {ge}.",
    "greater_than": "Must be more than {gt}.",
    "less_than_equal": "Must be at most {le}.",
    "less_than": "Must be less than {lt}.",
    "literal_error": "Must be {expected}.",
    "enum": "Must be {expected}.",
}


Body = TypeVar("Body", bound=BaseModel)


# aiohttp-pydantic ships no type information, hence the ignore.
class ApiView(PydanticView):  # type: ignore[misc]
    """Set `public = True` on views that need no session (sign-in, public reads, token links)."""

    public: ClassVar[bool] = False

    async def on_validation_error(self, exception: ValidationError, context: Any) -> NoReturn:
        raise validation_failed(exception)

    async def optional_body(self, model: type[Body]) -> Body:
        """A JSON body the client may leave out (a one-click action): then the defaults.

        aiohttp-pydantic requires a body once a handler takes one, so such handlers read it
        here, with the same error envelope as every other body.
        """
        raw = await self.request.read()
        if not raw.strip():
            return model()
        try:
            data = json.loads(raw)
        except ValueError:
            raise ValidationFailed("The request body is not valid JSON.", field="body") from None
        if not isinstance(data, dict):
            raise ValidationFailed("The request body must be a JSON object.", field="body")
        try:
            return model.model_validate(data)
        except ValidationError as error:
            raise validation_failed(error) from None

    @property
    def settings(self) -> Settings:
        settings: Settings = self.request.config_dict[keys.SETTINGS]
        return settings

    @property
    def caller(self) -> Caller:
        """Who is calling, for the services: built once per request, then kept."""
        caller: Caller | None = self.request.get(keys.CALLER)
        if caller is None:
            session = self.session
            caller = Caller(
                user_id=session.user_id,
                role=session.role,
                find_artist_id=self.request.config_dict[keys.ARTIST_ID_OF],
            )
            self.request[keys.CALLER] = caller
        return caller

    @property
    def optional_caller(self) -> Caller | None:
        """The caller on a public view: None when the request carries no session."""
        return self.caller if self.request.get(SESSION) is not None else None

    @property
    def session(self) -> SessionInfo:
        """The caller's session; the auth middleware guarantees one on non-public views."""
        session: SessionInfo | None = self.request.get(SESSION)
        if session is None:
            raise Unauthorized()
        return session


def is_public(request: web.Request) -> bool:
    handler = request.match_info.handler
    return bool(getattr(handler, "public", False))


def method_supported(request: web.Request) -> bool:
    """False when a class-based view has no handler for the method (it will answer 405)."""
    allowed = getattr(request.match_info.handler, "allowed_methods", None)
    return allowed is None or request.method in allowed


def public(handler: Handler) -> Handler:
    """Mark a function handler as needing no session."""
    handler.public = True  # type: ignore[attr-defined]
    return handler
