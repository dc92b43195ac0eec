"""Reading a process's Prometheus registry in tests."""

from __future__ import annotations

from umbrella.observability.metrics import Metrics

OUTCOMES = ("success", "retryable_error", "permanent_error")


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    """One sample's value (0 when the labelled series does not exist yet)."""
    return float(metrics.registry.get_sample_value(name, labels) or 0.0)


def provider_outcomes(metrics: Metrics, provider: str) -> dict[str, float]:
    """`umbrella_external_requests_total` of one provider, by outcome."""
    return {
        outcome: sample(
            metrics, "umbrella_external_requests_total", provider=provider, outcome=outcome
        )
        for outcome in OUTCOMES
    }
