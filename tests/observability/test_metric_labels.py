"""No metric label of ours is one Prometheus sets on every scraped series.

A label named `job` or `service` would be stored as `exported_job` / `exported_service` beside
the target's own, and every rule and panel would have to know it (ServiceMonitor
`honorLabels: false`); `namespace` would be worse: Alertmanager routes by the target's.
"""

from __future__ import annotations

from prometheus_client.metrics import MetricWrapperBase

from umbrella.observability.metrics import Metrics

TARGET_LABELS = {"job", "service", "namespace", "pod", "container", "endpoint", "instance"}


def test_no_metric_label_is_a_prometheus_target_label() -> None:
    labelled = {
        metric._name: set(metric._labelnames)
        for metric in vars(Metrics()).values()
        if isinstance(metric, MetricWrapperBase)
    }
    assert {
        name: labels & TARGET_LABELS for name, labels in labelled.items() if labels & TARGET_LABELS
    } == {}
    assert labelled["umbrella_jobs"] == {"task", "outcome"}
    assert labelled["umbrella_queue_depth"] == {"task"}
    assert labelled["umbrella_cron_last_success_timestamp_seconds"] == {"cron_job"}
    assert labelled["umbrella_external_requests"] == {"provider", "outcome"}
