"""The response envelope of SPEC §3: `{success, data, meta}` or `{success, error, meta}`."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any, Generic, Literal, TypeVar
from uuid import UUID

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, create_model

from umbrella import keys
from umbrella.core.errors import ErrorCode

API_VERSION = "v1"

T = TypeVar("T")


class Meta(BaseModel):
    timestamp: datetime
    version: Literal["v1"] = "v1"
    request_id: str


class ErrorBody(BaseModel):
    code: ErrorCode
    message: str
    field: str | None = None


class ErrorEnvelope(BaseModel):
    model_config = ConfigDict(title="ErrorEnvelope")

    success: Literal[False]
    error: ErrorBody
    meta: Meta


class Envelope(BaseModel, Generic[T]):
    success: Literal[True]
    data: T
    meta: Meta


@cache
def envelope_of(model: type[BaseModel]) -> type[BaseModel]:
    """`Envelope[model]` under a name OpenAPI accepts (`SessionOutEnvelope`)."""
    named: type[BaseModel] = create_model(f"{model.__name__}Envelope", __base__=Envelope[model])  # type: ignore[valid-type]
    return named


def _default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# orjson: several times faster than the json module on our envelopes (docs/performance.md).
# Non-string keys are written as strings, as the json module did.
_OPTIONS = orjson.OPT_NON_STR_KEYS
_FRAGMENT_OPTIONS = _OPTIONS | orjson.OPT_UTC_Z


def dumps_bytes(value: Any) -> bytes:
    """Compact JSON, UTF-8: datetimes ISO 8601, UUIDs and Decimals as strings, models dumped."""
    return orjson.dumps(value, default=_default, option=_OPTIONS)


def json_fragment(value: Any) -> orjson.Fragment:
    """`value` encoded once, as pydantic's JSON mode would (UTC datetimes end in `Z`).

    For a hot list built from rows without validating a model per row: the fragment is
    embedded as it is when the envelope is encoded.
    """
    return orjson.Fragment(orjson.dumps(value, default=_default, option=_FRAGMENT_OPTIONS))


def dumps(value: Any) -> str:
    return dumps_bytes(value).decode()


def json_body(
    body: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=dumps_bytes(body),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


def meta(request: web.Request) -> dict[str, Any]:
    return {
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "version": API_VERSION,
        "request_id": request.get(keys.REQUEST_ID, ""),
    }


def ok(
    request: web.Request, data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"success": True, "data": data, "meta": meta(request)}
    return json_body(body, status=status, headers=headers)


def error_response(
    request: web.Request,
    *,
    status: int,
    code: ErrorCode,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    body = {"success": False, "error": error, "meta": meta(request)}
    return json_body(body, status=status, headers=headers)
