"""What every provider client shares: one error type that says whether a retry can help."""

from __future__ import annotations

import logging

from prometheus_client import Counter

log = logging.getLogger(__name__)

# Statuses worth another try: the provider is busy, throttling us or broken for a while.
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class ProviderError(Exception):
    """A provider call failed; `retryable` is False when sending the same call again cannot help.

    The message is ours and safe to log or store (never the provider's payload verbatim
    beyond its short error text, never a credential).
    """

    def __init__(
        self, provider: str, message: str, *, retryable: bool, status: int | None = None
    ) -> None:
        self.provider = provider
        self.retryable = retryable
        self.status = status
        super().__init__(f"{provider}: {message}")


def is_retryable_status(status: int) -> bool:
    """429, 408 and 5xx are transient; any other 4xx is a request the provider will never accept."""
    return status in RETRYABLE_STATUSES or status >= 500


def failed_call(counter: Counter, error: ProviderError) -> ProviderError:
    """Count and log one failed provider call; returns the error for the caller to raise."""
    record_outcome(counter, error.provider, error)
    log.warning(
        f"{error.provider} call failed",
        extra={
            "provider": error.provider,
            "status": error.status,
            "retryable": error.retryable,
            "reason": str(error),
        },
    )
    return error


def record_outcome(counter: Counter, service: str, error: ProviderError | None) -> None:
    """Count one provider call as `success`, `retryable_error` or `permanent_error`."""
    if error is None:
        outcome = "success"
    else:
        outcome = "retryable_error" if error.retryable else "permanent_error"
    counter.labels(service, outcome).inc()
