"""The request path: request id, CORS, metrics + access log, error envelope, body limit.

The last step, the session, is in `umbrella.web.auth`.
"""

from __future__ import annotations

import codecs
import logging
import re
import time
import uuid

import asyncpg
from aiohttp import hdrs, web
from aiohttp.helpers import parse_mimetype
from aiohttp.typedefs import Handler
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from umbrella import keys
from umbrella.core import db
from umbrella.core.errors import (
    AppError,
    DependencyUnavailable,
    ErrorCode,
    NotConfigured,
    PayloadTooLarge,
    QuotaExceeded,
    ValidationFailed,
)
from umbrella.observability.logging import request_id_var
from umbrella.observability.metrics import NOT_CONFIGURED
from umbrella.web import envelope
from umbrella.web.jsonbody import refuse_unreadable_json
from umbrella.web.sessions import SESSION
from umbrella.web.views import validation_failed

log = logging.getLogger("umbrella.access")

# Probes and scrapes are not user traffic: a monitor polling `/health` through a Redis
# outage (503 `degraded`) must not spend the availability SLO's error budget.
UNMEASURED_ROUTES = frozenset({"/metrics", "/livez", "/readyz", "/health"})
errors_log = logging.getLogger("umbrella.errors")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

CORS_ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
CORS_ALLOW_HEADERS = "Authorization, Content-Type, If-None-Match, X-Request-ID"
CORS_EXPOSE_HEADERS = (
    "ETag, Retry-After, X-Request-ID, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"
)


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Accept a sane `X-Request-ID` or make one; echo it; put it in every log line."""
    incoming = request.headers.get("X-Request-ID", "")
    request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request[keys.REQUEST_ID] = request_id
    token = request_id_var.set(request_id)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers["X-Request-ID"] = request_id
        exc.headers["X-Content-Type-Options"] = "nosniff"
        raise
    finally:
        request_id_var.reset(token)
    response.headers["X-Request-ID"] = request_id
    # Answers carry what users wrote: a browser must take them as the type they declare.
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


# Query parameters that are credentials (the calendar feed link's `token`): the URL that
# traces, proxies' logs and error reports record must not carry them.
SECRET_QUERY_PARAMETERS = ("token",)
HIDDEN = "hidden"


@web.middleware
async def hide_query_secrets_middleware(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    """Replace secret query values in the request's URL; `query_secret` reads the real ones.

    It runs before tracing, so a span's `http.url` never holds a token.
    """
    found = {name: request.query[name] for name in SECRET_QUERY_PARAMETERS if name in request.query}
    if not found:
        return await handler(request)
    hidden = request.clone(rel_url=request.rel_url.update_query(dict.fromkeys(found, HIDDEN)))
    hidden[keys.QUERY_SECRETS] = found
    return await handler(hidden)


def query_secret(request: web.Request, name: str) -> str | None:
    """A secret query parameter as the client sent it (None when it sent none)."""
    secrets: dict[str, str] = request.get(keys.QUERY_SECRETS, {})
    return secrets.get(name)


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """CORS for the configured SPA origins only, with credentials; nobody else gets headers."""
    origin = request.headers.get("Origin")
    allowed = origin is not None and origin in request.config_dict[keys.SETTINGS].cors_origins
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        if not allowed:
            return web.Response(status=403)
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Origin": origin or "",
                "Access-Control-Allow-Credentials": "true",
                "Access-Control-Allow-Methods": CORS_ALLOW_METHODS,
                "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
                "Access-Control-Max-Age": "600",
                "Vary": "Origin",
            },
        )
    response = await handler(request)
    if allowed and origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS
        vary = response.headers.getall("Vary", [])
        if not any("origin" in value.lower() for value in vary):
            response.headers.add("Vary", "Origin")
    return response


def route_template(request: web.Request) -> str:
    """The route as registered (`/v1/gigs/{gig_id}`), never the raw path: labels stay bounded."""
    info = request.match_info
    if info.http_exception is not None:
        return "unmatched"
    resource = info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """RED metrics per route template, in-flight gauge and one JSON access-log line."""
    metrics = request.app[keys.METRICS]
    started = time.perf_counter()
    status = 500
    metrics.http_in_flight.inc()
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        metrics.http_in_flight.dec()
        elapsed = time.perf_counter() - started
        route = route_template(request)
        # A sign-in error sent to the web app as a 303 counts as the error it is.
        status = request.get(keys.REDIRECTED_ERROR_STATUS, status)
        if route not in UNMEASURED_ROUTES:
            # Empty for every other answer: Prometheus stores an empty label as no label.
            reason = NOT_CONFIGURED if request.get(keys.NOT_CONFIGURED) else ""
            metrics.http_request_duration.labels(
                route, request.method, str(status), reason
            ).observe(elapsed)
            session = request.get(SESSION)
            log.info(
                "request",
                extra={
                    "method": request.method,
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                    "user_id": str(session.user_id) if session else None,
                },
            )


_HTTP_CODES = {
    400: ErrorCode.VALIDATION_ERROR,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    429: ErrorCode.RATE_LIMIT_EXCEEDED,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}

_HTTP_MESSAGES = {
    404: "Not found.",
    405: "This method is not allowed here.",
    413: "The request body is too large.",
}

REDIS_ERRORS = (RedisConnectionError, RedisTimeoutError)


def _app_error(request: web.Request, error: AppError) -> web.Response:
    if isinstance(error, NotConfigured):
        request[keys.NOT_CONFIGURED] = True
    return envelope.error_response(
        request,
        status=error.status,
        code=error.code,
        message=error.message,
        field=error.field,
        headers=error.headers,
    )


def _from_http_exception(request: web.Request, exc: web.HTTPException) -> web.StreamResponse:
    if exc.status < 400:
        raise exc  # redirects and 304s pass through untouched
    code = _HTTP_CODES.get(exc.status, ErrorCode.INTERNAL_ERROR)
    message = _HTTP_MESSAGES.get(exc.status, exc.reason)
    field = None
    if exc.status == 413:
        field = "body"  # aiohttp's own refusal of a body past `client_max_size`
    if exc.status == 400:
        # aiohttp-pydantic's words for a body it could not parse.
        if "Malformed JSON" in (exc.text or ""):
            message, field = "The request body is not valid JSON.", "body"
        else:
            message, field = "The request body must be a JSON object.", "body"
    headers = {k: v for k, v in exc.headers.items() if k in {"Allow", "Retry-After"}}
    return envelope.error_response(
        request, status=exc.status, code=code, message=message, field=field, headers=headers
    )


def as_app_error(request: web.Request, error: Exception) -> AppError:
    """The client-facing error for any failure of a handler, logged as it deserves.

    The error middleware answers it as the envelope; the sign-in pages send the browser to
    the web app with it instead (umbrella/accounts/views.py).
    """
    if isinstance(error, AppError):
        if isinstance(error, QuotaExceeded):
            # Counted here, the one place every upload's refusal passes (files, tracks and
            # attachments, at start and at confirm), so the services need no metrics for it.
            request.config_dict[keys.METRICS].storage_quota_rejections.inc()
        failure = error
    elif isinstance(error, ValidationError):
        failure = validation_failed(error)
    elif isinstance(error, REDIS_ERRORS):
        # Callers with a Redis fallback catch these themselves; reaching here means none.
        failure = DependencyUnavailable("redis")
    elif isinstance(error, db.POSTGRES_DOWN_ERRORS):
        failure = DependencyUnavailable("postgres")
    elif isinstance(
        error, asyncpg.CharacterNotInRepertoireError | asyncpg.UntranslatableCharacterError
    ):
        # A NUL character (or one Postgres cannot store) in a text no schema refused: the
        # input's fault, not ours. The schemas refuse it with its field; this is the net.
        errors_log.warning("text Postgres cannot store", extra={"route": route_template(request)})
        failure = ValidationFailed("A text holds a character that cannot be stored (a NUL).")
    elif isinstance(error, TimeoutError):
        failure = DependencyUnavailable(
            "dependency", "A service we depend on timed out. Try again."
        )
    else:
        errors_log.exception("unhandled error", extra={"route": route_template(request)})
        failure = AppError(
            "Something went wrong on our side. Quote the request id if you report it."
        )
    if isinstance(failure, DependencyUnavailable):
        errors_log.warning("dependency unavailable", extra={"dependency": failure.dependency})
    return failure


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes the error envelope; no stack trace, SQL or provider text leaks."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        return _from_http_exception(request, exc)
    except Exception as error:  # CancelledError is a BaseException: cancellations pass through
        return _app_error(request, as_app_error(request, error))


@web.middleware
async def body_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a declared oversize body before reading it (aiohttp enforces the rest).

    A view may allow more with a `max_body_bytes` attribute (contact imports); it then
    reads its body as a stream and enforces that limit itself.
    """
    limit = getattr(request.match_info.handler, "max_body_bytes", None)
    if not isinstance(limit, int):
        limit = request.app[keys.SETTINGS].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"The request body is larger than {limit} bytes.", field="body")
    _refuse_unreadable_content_type(request.headers.get(hdrs.CONTENT_TYPE))
    return await handler(request)


def _refuse_unreadable_content_type(header: str | None) -> None:
    """A `Content-Type` no body reader could follow is the client's error (400), not ours.

    aiohttp raises a bare ValueError for multipart without a boundary and LookupError for
    an unknown charset, only once a view reads the body: that would be a 500.
    """
    if not header:
        return
    mime = parse_mimetype(header)
    if mime.type == "multipart" and not mime.parameters.get("boundary"):
        raise ValidationFailed(
            "A multipart body needs a boundary in its Content-Type.", field="body"
        )
    charset = mime.parameters.get("charset")
    if charset is not None:
        try:
            # codecs also knows bytes-to-bytes codecs (base64, zlib): no charset either.
            is_text = codecs.lookup(charset)._is_text_encoding
        except LookupError:
            is_text = False
        if not is_text:
            raise ValidationFailed(
                "The charset of the Content-Type is not a known text encoding.", field="body"
            )


_FORM_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})


@web.middleware
async def json_depth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse a JSON body nested deeper than `max_json_depth` before any parser recurses into
    it, one that is no text in its charset, and one holding a value no parser or encoder
    takes (a huge integer, a lone surrogate: web/jsonbody.py), each a 400 naming its field.

    Views with their own `max_body_bytes` stream their body and check it themselves.
    """
    handler_limit = getattr(request.match_info.handler, "max_body_bytes", None)
    if (
        request.body_exists
        and request.content_type not in _FORM_TYPES
        and not isinstance(handler_limit, int)
    ):
        raw = await request.read()  # cached: the view's own read gets the same bytes
        try:
            # aiohttp decodes the body only when a view asks for JSON, with a bare
            # UnicodeDecodeError (a 500): refuse undecodable bytes here, as a 400.
            raw.decode(request.charset or "utf-8")
        except UnicodeDecodeError:
            raise ValidationFailed(
                "The request body is not valid text in its charset (UTF-8 by default).",
                field="body",
            ) from None
        refuse_unreadable_json(raw, max_depth=request.config_dict[keys.SETTINGS].max_json_depth)
    return await handler(request)
