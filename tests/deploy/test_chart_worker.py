"""The worker's side of the chart: its scheduler, the CronJobs left, its drain, its autoscaling.

Sub-hourly cron jobs run inside the worker on the queue's scheduler (a pod a minute for
broadcasts-scheduled was 1,440 pods a day); the hourly and daily ones stay CronJobs. Both
lists are kept equal to the code's registry here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.deploy.chart import (
    CHART_DIR,
    SAMPLE_CREDENTIALS,
    HelmError,
    Render,
    load_values,
    render,
    settings_from_env,
)
from umbrella.core.cron import all_cron_jobs

FULLNAME = "umbrella"


def _longest_gap(schedule: str) -> float:
    from croniter import croniter

    runs = croniter(schedule)
    first = runs.get_next(float)
    gaps: list[float] = [-first + (first := runs.get_next(float)) for _ in range(400)]
    return max(gaps)


# --- cron jobs: the chart and the code's registry never drift ----------------------------------


def test_one_cronjob_per_hourly_or_daily_job_and_no_other(renders: dict[str, Render]) -> None:
    registry = {name: job for name, job in all_cron_jobs().items() if not job.in_worker}
    values = load_values(CHART_DIR / "values.yaml")
    assert set(values["cronJobs"]["jobs"]) == set(registry), "charts/umbrella/values.yaml cronJobs"
    assert "queue-log-prune" in registry
    for case in ("default", "dev", "production"):
        cronjobs = {
            obj["metadata"]["labels"]["umbrella.io/cron-job"]: obj
            for obj in renders[case].of_kind("CronJob")
        }
        assert set(cronjobs) == set(registry), case
        for name, job in registry.items():
            spec = cronjobs[name]["spec"]
            assert cronjobs[name]["metadata"]["name"] == f"{FULLNAME}-{name}"
            assert spec["schedule"] == job.schedule, (case, name)
            assert spec["timeZone"] == "Etc/UTC"
            assert spec["concurrencyPolicy"] == "Forbid"
            assert spec["startingDeadlineSeconds"] > 0
            assert spec["successfulJobsHistoryLimit"] >= 1
            assert spec["failedJobsHistoryLimit"] >= 1
            job_spec = spec["jobTemplate"]["spec"]
            assert job_spec["activeDeadlineSeconds"] > 0
            pod = job_spec["template"]["spec"]
            assert pod["restartPolicy"] == "Never"
            assert pod["containers"][0]["args"] == ["cron", name]


def test_the_worker_schedules_every_in_worker_job(renders: dict[str, Render]) -> None:
    in_worker = {name for name, job in all_cron_jobs().items() if job.in_worker}
    values = load_values(CHART_DIR / "values.yaml")
    assert set(values["worker"]["scheduler"]["jobs"]) == in_worker
    assert {
        "broadcasts-scheduled",
        "profile-views-flush",
        "search-words",
        "uploads-cleanup",
        "venue-stats",
    } == in_worker
    # None of them starts a pod: no CronJob, in any case of the matrix.
    for case, rendered in renders.items():
        labels = {
            obj["metadata"]["labels"]["umbrella.io/cron-job"] for obj in rendered.of_kind("CronJob")
        }
        assert not labels & in_worker, case
        data = rendered.get("ConfigMap", FULLNAME)["data"]
        assert data["UMBRELLA_WORKER_SCHEDULER_ENABLED"] == "true", case
    off = render({"worker": {"scheduler": {"enabled": False}}})
    assert off.get("ConfigMap", FULLNAME)["data"]["UMBRELLA_WORKER_SCHEDULER_ENABLED"] == "false"


def test_cron_lateness_alerts_give_each_job_a_full_period() -> None:
    values = load_values(CHART_DIR / "values.yaml")
    registry = all_cron_jobs()
    limits = {
        name: spec["maxSuccessAgeSeconds"] for name, spec in values["cronJobs"]["jobs"].items()
    }
    limits |= {
        name: spec["maxSuccessAgeSeconds"]
        for name, spec in values["worker"]["scheduler"]["jobs"].items()
    }
    assert set(limits) == set(registry)
    for name, limit in limits.items():
        assert limit > _longest_gap(registry[name].schedule), name
        assert limit <= 25 * 3600, name  # SPEC: no cron job goes 25 hours without a success
    for name, spec in values["cronJobs"]["jobs"].items():
        assert spec["schedule"] == registry[name].schedule, name


# --- the worker's drain -----------------------------------------------------------------------


def test_the_worker_exits_on_its_own_before_kubernetes_kills_it(renders: dict[str, Render]) -> None:
    for case, rendered in renders.items():
        data = rendered.get("ConfigMap", FULLNAME)["data"]
        worker = rendered.get("Deployment", f"{FULLNAME}-worker")["spec"]["template"]["spec"]
        grace = float(data["UMBRELLA_WORKER_SHUTDOWN_GRACE_SECONDS"])
        assert 0 < grace < worker["terminationGracePeriodSeconds"], case
    data = renders["default"].get("ConfigMap", FULLNAME)["data"]
    env = {**data, **SAMPLE_CREDENTIALS}
    settings = settings_from_env(env)
    assert settings.worker_shutdown_grace_seconds == 40
    assert settings.worker_scheduler_enabled is True


# --- autoscaling on the queue ------------------------------------------------------------------


def test_no_worker_autoscaler_by_default(default: Render) -> None:
    assert default.names("HorizontalPodAutoscaler") == {f"{FULLNAME}-api"}
    assert not default.of_kind("ScaledObject")
    assert default.get("Deployment", f"{FULLNAME}-worker")["spec"]["replicas"] == 2


def test_the_hpa_scales_the_worker_on_the_queue_depth(renders: dict[str, Render]) -> None:
    rendered = renders["worker-hpa"]
    hpa = rendered.get("HorizontalPodAutoscaler", f"{FULLNAME}-worker")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": f"{FULLNAME}-worker",
    }
    (metric,) = hpa["metrics"]
    assert metric == {
        "type": "External",
        "external": {
            "metric": {"name": "umbrella_queue_depth"},
            "target": {"type": "AverageValue", "averageValue": "50"},
        },
    }
    assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"]
    # The HPA owns the count: an upgrade must not reset it.
    assert "replicas" not in rendered.get("Deployment", f"{FULLNAME}-worker")["spec"]
    # The disruption budget is a number of pods, whatever the count.
    pdb = rendered.get("PodDisruptionBudget", f"{FULLNAME}-worker")["spec"]
    assert pdb["maxUnavailable"] == 1
    with_cpu = render(
        {"worker": {"autoscaling": {"enabled": True, "targetCPUUtilizationPercentage": 80}}}
    )
    metrics = with_cpu.get("HorizontalPodAutoscaler", f"{FULLNAME}-worker")["spec"]["metrics"]
    assert [m["type"] for m in metrics] == ["External", "Resource"]


def test_keda_scales_the_worker_on_the_releases_queue(renders: dict[str, Render]) -> None:
    rendered = renders["worker-keda"]
    assert rendered.names("HorizontalPodAutoscaler") == {f"{FULLNAME}-api"}  # KEDA makes its own
    scaled = rendered.get("ScaledObject", f"{FULLNAME}-worker")["spec"]
    assert scaled["scaleTargetRef"]["name"] == f"{FULLNAME}-worker"
    assert scaled["minReplicaCount"] >= 1
    (trigger,) = scaled["triggers"]
    assert trigger["type"] == "prometheus"
    assert trigger["metadata"]["query"] == (
        'sum(max by (task) (umbrella_queue_depth{namespace="umbrella"}))'
    )
    assert trigger["metadata"]["threshold"] == "50"
    assert trigger["authenticationRef"] == {"name": "prometheus"}
    assert "replicas" not in rendered.get("Deployment", f"{FULLNAME}-worker")["spec"]
    # The query follows the release's namespace.
    elsewhere = render({"worker": {"keda": {"enabled": True}}}, namespace="staging")
    query = elsewhere.get("ScaledObject", f"{FULLNAME}-worker")["spec"]["triggers"][0]["metadata"]
    assert 'namespace="staging"' in query["query"]


def test_keda_may_scale_to_zero_only_without_the_scheduler() -> None:
    to_zero = {"enabled": True, "minReplicas": 0}
    with pytest.raises(HelmError, match=re.escape("worker.keda.minReplicas must be at least 1")):
        render({"worker": {"keda": to_zero}})
    rendered = render({"worker": {"keda": to_zero, "scheduler": {"enabled": False}}})
    assert rendered.get("ScaledObject", f"{FULLNAME}-worker")["spec"]["minReplicaCount"] == 0


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"worker": {"autoscaling": {"enabled": True}, "keda": {"enabled": True}}},
            "worker.autoscaling and worker.keda cannot both be enabled",
        ),
        (
            {"worker": {"autoscaling": {"enabled": True, "minReplicas": 5, "maxReplicas": 3}}},
            "worker.autoscaling.minReplicas must not exceed worker.autoscaling.maxReplicas",
        ),
        ({"worker": {"replicaCount": 0}}, "worker.replicaCount must be at least 1"),
        (
            {"worker": {"shutdownGraceSeconds": 59.5, "terminationGracePeriodSeconds": 59}},
            "must exceed worker.shutdownGraceSeconds",
        ),
    ],
)
def test_worker_values_that_would_break_it_do_not_render(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(HelmError, match=re.escape(message)):
        render(values)


def test_the_chart_derived_worker_settings_cannot_be_set_in_config_env() -> None:
    for name in ("UMBRELLA_WORKER_SHUTDOWN_GRACE_SECONDS", "UMBRELLA_WORKER_SCHEDULER_ENABLED"):
        with pytest.raises(HelmError, match=name):
            render({"config": {"env": {name: "1"}}})
