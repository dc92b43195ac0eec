"""What every provider client shares: one error type that says whether a retry can help,
and `ProviderCall`, which counts and times every call the same way for all providers."""

from __future__ import annotations

import logging
import time

from umbrella.observability.metrics import Metrics

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


def outcome_of(error: ProviderError | None) -> str:
    """The `outcome` label of a call: `success`, `retryable_error` or `permanent_error`."""
    if error is None:
        return "success"
    return "retryable_error" if error.retryable else "permanent_error"


def record_outcome(
    metrics: Metrics, service: str, error: ProviderError | None, *, elapsed_seconds: float
) -> None:
    """Count one provider call and observe its latency, both under the same outcome label."""
    outcome = outcome_of(error)
    metrics.external_requests.labels(service, outcome).inc()
    metrics.external_request_duration.labels(service, outcome).observe(elapsed_seconds)


class ProviderCall:
    """One call to a provider, timed from its creation; `record` it once, when it has ended.

    Create it right before the request goes out (after any wait for our own rate limiter,
    which is not the provider's latency), so the histogram measures the provider alone.
    """

    def __init__(self, metrics: Metrics, service: str) -> None:
        self._metrics = metrics
        self.service = service
        self._started = time.perf_counter()
        self._recorded = False

    def record(self, error: ProviderError | None) -> None:
        """Count the call as succeeded (`None`) or failed; later records of it are ignored."""
        if self._recorded:
            # One call is one sample, whichever of its failure paths reports it first.
            return
        self._recorded = True
        elapsed = time.perf_counter() - self._started
        record_outcome(self._metrics, self.service, error, elapsed_seconds=elapsed)

    def failed(self, error: ProviderError) -> ProviderError:
        """Record and log a failed call; returns the error for the caller to raise."""
        self.record(error)
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
