"""The offline checkers: helm lint, kubernetes-validate --strict, checkov, hadolint, PromQL.

checkov is slow to start, so it runs once over every render of the matrix.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate.utils as kubernetes_validate
import promql_parser
import pytest
import yaml
from prometheus_client import Counter, Histogram
from prometheus_client.metrics import MetricWrapperBase

from tests.deploy import tools
from tests.deploy.chart import (
    CHART_DIR,
    CRD_KINDS,
    OLDEST_KUBERNETES,
    REPO_ROOT,
    RUNBOOKS,
    Render,
    cases,
    lint,
    lint_problems,
)
from tests.deploy.crd_schemas import SCHEMAS
from umbrella.observability.metrics import Metrics

NEWEST_KUBERNETES = kubernetes_validate.latest_version()

# Labels Prometheus adds to every scraped series (Prometheus Operator's ServiceMonitor); a
# label of ours with the same name is stored as exported_<name>.
TARGET_LABELS = {"namespace", "service", "pod", "container", "endpoint", "job", "instance"}
# Series that are not ours, with the labels a rule or panel may select them by: Prometheus'
# own `up`, and kube-state-metrics' CronJob creation time (a cron job that never succeeded).
FOREIGN_SERIES = {
    "up": {"namespace", "service"},
    "kube_cronjob_created": {"namespace", "cronjob"},
    "kube_deployment_created": {"namespace", "deployment"},
}
# Series the chart's own recording rules write (`umbrella:<what>:<window>`), by their labels.
RECORDED_LABELS = {"namespace", "slo"}


# --- helm lint ------------------------------------------------------------------------------


@pytest.mark.parametrize("kube_version", [OLDEST_KUBERNETES, NEWEST_KUBERNETES])
def test_helm_lint_is_clean_for_every_case(kube_version: str) -> None:
    for case, values in cases().items():
        report = lint(values, kube_version=kube_version)
        assert lint_problems(report) == [], (case, report)


# --- kubernetes-validate --strict -------------------------------------------------------------


@pytest.mark.usefixtures("cached_schemas")
@pytest.mark.parametrize("kube_version", [OLDEST_KUBERNETES, NEWEST_KUBERNETES])
def test_every_object_is_valid_kubernetes(renders: dict[str, Render], kube_version: str) -> None:
    validated = 0
    for case, rendered in renders.items():
        for obj in rendered.objects:
            if obj["kind"] in CRD_KINDS:
                continue
            try:
                kubernetes_validate.validate(obj, kube_version, strict=True)
            except kubernetes_validate.ValidationError as error:
                where = "/".join(str(part) for part in error.absolute_path)
                pytest.fail(
                    f"{case}: {obj['kind']}/{obj['metadata']['name']} {where}: {error.message}"
                )
            validated += 1
    assert validated > 150


def test_custom_resources_match_their_crds(renders: dict[str, Render]) -> None:
    seen = set()
    for case, rendered in renders.items():
        for obj in rendered.objects:
            if obj["kind"] in CRD_KINDS:
                seen.add(obj["kind"])
                try:
                    jsonschema.validate(obj, SCHEMAS[obj["kind"]])
                except jsonschema.ValidationError as error:
                    pytest.fail(f"{case}: {obj['kind']}/{obj['metadata']['name']}: {error.message}")
    assert seen == CRD_KINDS


# --- monitoring: PromQL, runbooks, dashboards --------------------------------------------------


def _selectors(node: Any) -> list[Any]:
    """Every vector selector of a PromQL expression."""
    if isinstance(node, promql_parser.VectorSelector):
        return [node]
    found = []
    for attribute in ("lhs", "rhs", "expr", "param", "vector_selector"):
        child = getattr(node, attribute, None)
        if child is not None and not isinstance(child, (str, int, float)):
            found += _selectors(child)
    for child in getattr(node, "args", None) or []:
        found += _selectors(child)
    return found


def _code_labels() -> dict[str, set[str]]:
    """Every metric the code exports, with its label names as Prometheus stores them."""
    labels: dict[str, set[str]] = {}
    for metric in vars(Metrics()).values():
        if isinstance(metric, MetricWrapperBase):
            names = {f"exported_{n}" if n in TARGET_LABELS else n for n in metric._labelnames}
            labels[metric._name] = names
            if isinstance(metric, Counter):
                labels[f"{metric._name}_total"] = names
            if isinstance(metric, Histogram):
                labels[metric._name] = names | {"le"}
    return labels


def test_the_code_exports_the_metrics_of_architecture_section_8() -> None:
    code = _code_labels()
    assert {
        "umbrella_http_request_duration_seconds",
        "umbrella_http_requests_in_flight",
        "umbrella_jobs_total",
        "umbrella_job_duration_seconds",
        "umbrella_queue_depth",
        "umbrella_external_requests_total",
        "umbrella_cache_requests_total",
        "umbrella_violet_prompts_total",
        "umbrella_storage_quota_rejections_total",
        "umbrella_storage_used_bytes",
        "umbrella_cron_last_success_timestamp_seconds",
    } <= set(code)
    assert code["umbrella_http_request_duration_seconds"] == {
        "route",
        "method",
        "status",
        "reason",
        "le",
    }


def _check_expression(expr: str, where: str) -> None:
    """Valid PromQL whose every selector names a metric the code exports, with its labels."""
    try:
        tree = promql_parser.parse(expr)
    except Exception as error:  # the parser's own error type is not exported
        pytest.fail(f"{where}: invalid PromQL: {error}\n{expr}")
    code = _code_labels()
    for selector in _selectors(tree):
        metric = selector.name or ""
        if metric.startswith("umbrella:"):
            labels = {matcher.name for matcher in selector.matchers.matchers}
            assert labels <= RECORDED_LABELS, f"{where}: {metric} by {sorted(labels)}"
            continue
        if metric in FOREIGN_SERIES:
            labels = {matcher.name for matcher in selector.matchers.matchers}
            assert labels <= FOREIGN_SERIES[metric], f"{where}: {metric} by {sorted(labels)}"
            continue
        name = re.sub(r"_(bucket|count|sum)$", "", metric)
        assert name in code, f"{where}: {metric} is not a metric the code exports"
        allowed = code[name]
        for matcher in selector.matchers.matchers:
            assert matcher.name in allowed | TARGET_LABELS, (
                f"{where}: {name} has no label {matcher.name!r} (it has {sorted(allowed)})"
            )


@pytest.fixture(scope="session")
def alerts(renders: dict[str, Render]) -> list[dict[str, Any]]:
    (rule,) = renders["production-metrics-on"].of_kind("PrometheusRule")
    return [
        alert for group in rule["spec"]["groups"] for alert in group["rules"] if "alert" in alert
    ]


def test_alert_expressions_are_valid_promql_on_known_metrics(alerts: list[dict[str, Any]]) -> None:
    for alert in alerts:
        _check_expression(alert["expr"], alert["alert"])


def test_the_alerts_cover_spec_section_7(alerts: list[dict[str, Any]]) -> None:
    names = {alert["alert"] for alert in alerts}
    assert {
        "UmbrellaHighErrorRate",
        "UmbrellaHighLatency",
        "UmbrellaSloLatency",
        "UmbrellaProviderErrors",
        "UmbrellaUploadFailures",
        "UmbrellaArtistOverQuota",
        "UmbrellaQueueBacklog",
        "UmbrellaOutboxBacklog",
        "UmbrellaCronJobLate",
        "UmbrellaJobsHeldFailed",
        "UmbrellaDependencyDown",
        "UmbrellaReadinessFailing",
        "UmbrellaTargetDown",
        "UmbrellaErrorBudgetBurn",
        "UmbrellaLatencyBudgetBurn",
    } == names
    for alert in alerts:
        assert alert["labels"]["severity"] in {"critical", "warning"}, alert["alert"]
        assert {"summary", "description", "runbook_url"} <= set(alert["annotations"])
        assert re.fullmatch(r"\d+[smh]", alert["for"]), alert["alert"]
        assert alert["labels"]["team"] == "platform"  # extraLabels reach every alert
    by_name = {alert["alert"]: alert for alert in alerts}
    assert by_name["UmbrellaHighErrorRate"]["labels"]["severity"] == "critical"
    assert by_name["UmbrellaHighErrorRate"]["for"] == "5m"
    assert "> 0.05" in by_name["UmbrellaHighErrorRate"]["expr"]
    assert by_name["UmbrellaHighLatency"]["labels"]["severity"] == "critical"
    assert by_name["UmbrellaHighLatency"]["for"] == "10m"
    assert by_name["UmbrellaHighLatency"]["expr"].rstrip().endswith("> 1")

    def each(name: str, label: str) -> dict[str, dict[str, Any]]:
        return {a["labels"][label]: a for a in alerts if a["alert"] == name}

    slos = each("UmbrellaSloLatency", "slo")
    assert slos["profile"]["expr"].rstrip().endswith("> 0.5")
    assert slos["marketplace"]["expr"].rstrip().endswith("> 1")
    assert all('method="GET"' in slo["expr"] for slo in slos.values())
    providers = {
        re.search(r'provider="(\w+)"', a["expr"]).group(1): a["expr"]  # type: ignore[union-attr]
        for a in alerts
        if a["alert"] == "UmbrellaProviderErrors"
    }
    assert providers["resend"].endswith("> 10\n")
    assert providers["twilio"].endswith("> 10\n")
    assert providers["anthropic"].endswith("> 5\n")
    uploads = by_name["UmbrellaUploadFailures"]["expr"]
    assert "umbrella_uploads_total{" in uploads
    assert 'outcome="failed"' in uploads
    assert uploads.rstrip().endswith("> 5")
    outbox = each("UmbrellaOutboxBacklog", "channel")
    assert outbox["email"]["expr"].rstrip().endswith("> 100")
    assert outbox["sms"]["expr"].rstrip().endswith("> 50")
    cron = each("UmbrellaCronJobLate", "cron_job")
    from umbrella.core.cron import all_cron_jobs

    assert set(cron) == set(all_cron_jobs())
    for job, alert in cron.items():  # SPEC: no cron job goes 25 hours without a success
        limit = int(alert["expr"].rsplit(">", 1)[1])
        assert limit <= 25 * 3600, job
    components = each("UmbrellaTargetDown", "component")
    assert set(components) == {"api", "worker"}
    assert by_name["UmbrellaReadinessFailing"]["for"] == "5m"


def test_the_slo_alerts_name_real_get_routes(alerts: list[dict[str, Any]]) -> None:
    """A renamed route must not leave its SLO alert watching nothing."""
    from umbrella.app import create_app
    from umbrella.config import Environment, load_settings

    settings = load_settings(
        env=Environment.TEST,
        database_url="postgresql://nobody@127.0.0.1:1/unused",  # the app is built, not run
        redis_url="redis://127.0.0.1:1",
        s3_endpoint="http://127.0.0.1:1",
        s3_access_key="unused",
        s3_secret_key="unused-unused",
        s3_bucket="unused",
        secret_key="k" * 64,
        email_backend="console",
        sms_backend="console",
    )
    get_routes = {
        route.resource.canonical
        for route in create_app(settings).router.routes()
        if route.resource is not None
        and (route.method == "GET" or (route.method == "*" and hasattr(route.handler, "get")))
    }
    for alert in alerts:
        if alert["alert"] != "UmbrellaSloLatency":
            continue
        pattern = re.search(r'route=~"([^"]+)"', alert["expr"]).group(1)  # type: ignore[union-attr]
        for alternative in pattern.split("|"):
            assert alternative in get_routes, (alert["labels"]["slo"], alternative)
    assert "/v1/artists/{artist_id}" in get_routes


def test_every_alert_links_a_runbook_that_exists(alerts: list[dict[str, Any]]) -> None:
    linked = set()
    for alert in alerts:
        url = alert["annotations"]["runbook_url"]
        assert url.endswith(f"/docs/runbooks/{alert['alert']}.md"), url
        linked.add(alert["alert"])
    files = {path.stem for path in RUNBOOKS.glob("*.md") if path.name != "README.md"}
    assert files == linked, "docs/runbooks has exactly one runbook per alert"
    for name in files:
        text = (RUNBOOKS / f"{name}.md").read_text()
        assert text.startswith(f"# {name}\n"), name
        for section in ("## What it means", "## How to confirm", "## What to do"):
            assert section in text, (name, section)


def test_the_alerts_are_scoped_to_the_release(alerts: list[dict[str, Any]]) -> None:
    for alert in alerts:
        assert 'namespace="umbrella"' in alert["expr"], alert["alert"]


def test_dashboards_are_labelled_valid_grafana_json(renders: dict[str, Render]) -> None:
    dashboards = [
        cm
        for cm in renders["metrics-on"].of_kind("ConfigMap")
        if cm["metadata"]["labels"].get("grafana_dashboard") == "1"
    ]
    assert len(dashboards) == len(list((CHART_DIR / "dashboards").glob("*.json"))) >= 2
    uids = set()
    for config_map in dashboards:
        ((key, text),) = config_map["data"].items()
        dashboard = json.loads(text)
        assert key.endswith(".json")
        uids.add(dashboard["uid"])
        assert dashboard["title"].startswith("Umbrella / ")
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), dashboard["uid"]
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                expr = target["expr"].replace("$namespace", "umbrella")
                _check_expression(expr, f"{dashboard['uid']}: {panel['title']}")
    assert len(uids) == len(dashboards)
    assert not any(
        cm["metadata"]["labels"].get("grafana_dashboard")
        for cm in renders["metrics-off"].of_kind("ConfigMap")
    )


def test_monitoring_objects_follow_their_toggles(renders: dict[str, Render]) -> None:
    on = renders["metrics-on"]
    assert on.names("ServiceMonitor") == {"umbrella-api", "umbrella-worker"}
    for monitor in on.of_kind("ServiceMonitor"):
        assert monitor["metadata"]["labels"]["release"] == "prometheus"
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics"
        service = on.get("Service", monitor["metadata"]["name"])
        assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    (rule,) = on.of_kind("PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    for case in ("default", "metrics-off", "dev"):
        assert not renders[case].of_kind("ServiceMonitor"), case
        assert not renders[case].of_kind("PrometheusRule"), case


# --- checkov, once over every render ----------------------------------------------------------


# About a second per render on an idle machine, but one process for the whole matrix.
@pytest.mark.timeout(600)
def test_checkov_finds_nothing_unexplained(renders: dict[str, Render], tmp_path: Path) -> None:
    for case, rendered in renders.items():
        (tmp_path / f"{case}.yaml").write_text(rendered.yaml)
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE"}
    completed = subprocess.run(
        [tools.checkov(), "--directory", str(tmp_path), "--framework", "kubernetes",
         "--output", "json", "--skip-download"],
        capture_output=True, text=True, env=env, timeout=540, check=False,
    )  # fmt: skip
    assert completed.stdout, completed.stderr
    report = json.loads(completed.stdout)
    results, summary = report["results"], report["summary"]
    failed = [
        f"{found['check_id']} {found['resource']} ({found['file_path']}): {found['check_name']}"
        for found in results["failed_checks"]
    ]
    assert failed == [], "\n".join(failed)
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 1000
    # Every accepted finding carries its reason in the chart (a checkov.io/skip annotation).
    for skipped in results["skipped_checks"]:
        assert len(skipped["check_result"].get("suppress_comment", "")) > 20, skipped["check_id"]
    counts = ", ".join(f"{summary[key]} {key}" for key in ("passed", "failed", "skipped"))
    print(f"checkov: {counts}")


# --- hadolint ---------------------------------------------------------------------------------


def test_the_dockerfile_is_hadolint_clean() -> None:
    completed = subprocess.run(
        [tools.hadolint(), "--failure-threshold", "info", str(REPO_ROOT / "Dockerfile")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_image_matches_what_the_chart_expects() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    uid = values["podSecurityContext"]["runAsUser"]
    assert f"USER {uid}:{uid}" in dockerfile
    assert f"--uid {uid}" in dockerfile
    assert 'ENTRYPOINT ["umbrella"]' in dockerfile
    assert not re.search(r"^HEALTHCHECK", dockerfile, re.M)
    for label in ("title", "description", "version", "revision", "created", "source", "licenses"):
        assert f"org.opencontainers.image.{label}=" in dockerfile
    assert re.search(r"^FROM \$\{PYTHON_IMAGE\} AS runtime$", dockerfile, re.M)
    assert "python:3.11-slim" in dockerfile
    assert (
        f"EXPOSE {values['api']['containerPort']} {values['worker']['metricsPort']}" in dockerfile
    )
    rules = [
        line
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert rules[0] == "*", ".dockerignore is an allow-list"
    assert {"!umbrella/", "!migrations/", "!pyproject.toml"} <= set(rules)
