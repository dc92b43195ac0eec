"""Domain exceptions and the error codes of SPEC §3; one middleware maps them to the envelope."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "VALIDATION_ERROR"
    UNAUTHORIZED = "UNAUTHORIZED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    CONFLICT = "CONFLICT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"


class AppError(Exception):
    """An error a client can act on: a status, a stable code, a message and maybe a field."""

    status = 500
    code = ErrorCode.INTERNAL_ERROR
    default_message = "Something went wrong on our side."

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.field = field
        self.headers = headers or {}
        super().__init__(self.message)


class ValidationFailed(AppError):
    status = 400
    code = ErrorCode.VALIDATION_ERROR
    default_message = "The request is not valid."


class Unauthorized(AppError):
    status = 401
    code = ErrorCode.UNAUTHORIZED
    default_message = "Sign in to continue."


class Forbidden(AppError):
    status = 403
    code = ErrorCode.FORBIDDEN
    default_message = "You are not allowed to do that."


class NotFound(AppError):
    status = 404
    code = ErrorCode.NOT_FOUND
    default_message = "Not found."


class MethodNotAllowed(AppError):
    status = 405
    code = ErrorCode.METHOD_NOT_ALLOWED
    default_message = "This method is not allowed here."


class Conflict(AppError):
    status = 409
    code = ErrorCode.CONFLICT
    default_message = "That already exists."


class PayloadTooLarge(AppError):
    status = 413
    code = ErrorCode.PAYLOAD_TOO_LARGE
    default_message = "The request body is too large."


class QuotaExceeded(AppError):
    status = 400
    code = ErrorCode.QUOTA_EXCEEDED
    default_message = "Storage quota exceeded."


class RateLimited(AppError):
    status = 429
    code = ErrorCode.RATE_LIMIT_EXCEEDED
    default_message = "Too many requests. Try again later."

    def __init__(
        self, message: str | None = None, *, retry_after_seconds: int, field: str | None = None
    ) -> None:
        super().__init__(
            message, field=field, headers={"Retry-After": str(max(1, retry_after_seconds))}
        )
        self.retry_after_seconds = retry_after_seconds


class DependencyUnavailable(AppError):
    """A server or provider we depend on is down; the client may retry later."""

    status = 503
    code = ErrorCode.SERVICE_UNAVAILABLE
    default_message = "A service we depend on is unavailable. Try again shortly."

    def __init__(self, dependency: str, message: str | None = None) -> None:
        self.dependency = dependency
        super().__init__(
            message or f"{dependency.capitalize()} is temporarily unavailable. Try again shortly.",
            headers={"Retry-After": "5"},
        )


class NotConfigured(DependencyUnavailable):
    """A provider this deployment has not configured: a 503 by design, not an outage.

    The envelope is DependencyUnavailable's (SPEC §3: 503 SERVICE_UNAVAILABLE); the request
    metric marks it so the availability SLO and its alerts leave it out.
    """
