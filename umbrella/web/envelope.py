"""The response envelope of SPEC §3: `{success, data, meta}` or `{success, error, meta}`."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any, Generic, Literal, TypeVar
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, ConfigDict, create_model

from umbrella import keys

API_VERSION = "v1"

T = TypeVar("T")


class Meta(BaseModel):
    timestamp: datetime
    version: Literal["v1"] = "v1"
    request_id: str


class ErrorBody(BaseModel):
    code: str
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


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"))


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
    return web.json_response(body, status=status, headers=headers, dumps=dumps)


def error_response(
    request: web.Request,
    *,
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    body = {"success": False, "error": error, "meta": meta(request)}
    return web.json_response(body, status=status, headers=headers, dumps=dumps)
