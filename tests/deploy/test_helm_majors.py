"""The chart under both majors of the real helm, with the values operators actually pass.

Besides the three values files: a `global:` section, which a parent chart hands to every
subchart, and numbers of 1,000,000 and more. Helm reads every number of a values file as a
float64, and Go prints such a float64 in exponent form ("1.048576e+07"), which no setting
parses and no Kubernetes integer field accepts.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate.utils as kubernetes_validate
import pytest
import yaml

from tests.deploy import tools
from tests.deploy.chart import (
    CHART_DIR,
    CRD_KINDS,
    OLDEST_KUBERNETES,
    VALUES_DEV,
    VALUES_PRODUCTION,
    HelmError,
    Render,
    lint,
    lint_problems,
    load_values,
    merge,
    render,
    run_helm,
    settings_from_env,
)

NEWEST_KUBERNETES = kubernetes_validate.latest_version()
HELMS: dict[str, Callable[[], str]] = {"helm4": tools.helm, "helm3": tools.helm3}

# What a parent chart passes down (Bitnami-style globals); this chart has no use for them.
GLOBALS = {
    "global": {
        "imageRegistry": "registry.example.com",
        "imagePullSecrets": ["registry-credentials"],
        "storageClass": "fast",
    }
}

# Settings an operator writes as YAML numbers (and a float and a bool beside them).
NUMERIC_SETTINGS = {
    "UMBRELLA_MAX_BODY_BYTES": 10485760,
    "UMBRELLA_SESSION_TTL_SECONDS": 2592000,
    "UMBRELLA_DB_STATEMENT_TIMEOUT_MS": 1000000,
    "UMBRELLA_S3_TIMEOUT_SECONDS": 2.5,
    "UMBRELLA_SESSION_COOKIE_SECURE": False,
}
SCALE = 2**20  # every whole number of values.yaml times this is 1,048,576 or more
# Ports and percentages have a schema maximum, and latency targets must be one of the
# histograms' bucket bounds: they cannot reach 1,000,000.
UNSCALED = {
    "containerPort",
    "metricsPort",
    "port",
    "ports",
    "targetCPUUtilizationPercentage",
    "p95Seconds",
}
EXPONENT = re.compile(r"\d(\.\d+)?e[+-]\d\d")  # Go's %v of a float64 of 1e6 or more


def has_number(node: Any) -> bool:
    if isinstance(node, dict):
        return any(has_number(child) for child in node.values())
    if isinstance(node, list):
        return any(has_number(child) for child in node)
    return isinstance(node, int | float) and not isinstance(node, bool)


def scaled(node: Any, key: str = "") -> Any:
    """Every whole number of `node` (but ports and percentages) times SCALE."""
    if isinstance(node, dict):
        return {k: scaled(v, k) for k, v in node.items()}
    if isinstance(node, list):
        return [scaled(item, key) for item in node]
    if isinstance(node, int) and not isinstance(node, bool) and key not in UNSCALED:
        return node * SCALE
    return node


def numbers_of(node: dict[str, Any]) -> dict[str, Any]:
    """Only the maps and lists of `node` that hold a number (the dev values keep the rest)."""
    found = {}
    for key, child in node.items():
        if key in UNSCALED or not has_number(child):
            continue
        found[key] = numbers_of(child) if isinstance(child, dict) else child
    return found


def large_numbers() -> dict[str, Any]:
    """values.yaml's numbers, scaled, with numeric settings (to go on top of values-dev.yaml)."""
    values: dict[str, Any] = scaled(numbers_of(load_values(CHART_DIR / "values.yaml")))
    values.setdefault("config", {}).setdefault("env", {}).update(NUMERIC_SETTINGS)
    values["tmpVolume"] = {"sizeLimit": 67108864}
    values["api"]["autoscaling"]["customMetric"] = {
        "enabled": True,
        "name": "umbrella_http_requests_in_flight",
        "averageValue": 2000000,
    }
    values["tracing"] = {"otlpEndpoint": "http://collector:4318", "samplerArg": 0.25}
    # PgBouncer prints its numbers into pgbouncer.ini; the chart checks the two addresses.
    values["pgbouncer"] |= {"upstream": {"host": "postgres"}, "auth": {"userlist": '"u" "p"\n'}}
    values["secrets"] = {
        "env": {
            "UMBRELLA_DATABASE_URL": "postgresql://umbrella:umbrella-dev@umbrella-pgbouncer:6432/umbrella",
            "UMBRELLA_DIRECT_DATABASE_URL": "postgresql://umbrella:umbrella-dev@postgres:5432/umbrella",
        }
    }
    # Every object that prints a number is rendered (values-dev.yaml turns some off).
    for toggle in (
        values["api"]["autoscaling"],
        values["api"]["pdb"],
        values["worker"]["pdb"],
        values["migrations"].setdefault("hook", {}),
        values["networkPolicy"],
        values.setdefault("tests", {}),
        values["worker"]["autoscaling"],
        values["pgbouncer"],
        values["pgbouncer"]["pdb"],
    ):
        toggle["enabled"] = True
    return values


@pytest.fixture(scope="module")
def value_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """The -f files of each case, as an operator passes them."""
    directory = tmp_path_factory.mktemp("values")
    (directory / "global.yaml").write_text(yaml.safe_dump(GLOBALS))
    (directory / "large-numbers.yaml").write_text(yaml.safe_dump(large_numbers()))
    return {
        "default": [],
        "dev": [VALUES_DEV],
        "production": [VALUES_PRODUCTION],
        "global": [directory / "global.yaml"],
        # On top of the dev values, so the settings are complete and can be loaded.
        "large-numbers": [VALUES_DEV, directory / "large-numbers.yaml"],
    }


CASES = ["default", "dev", "production", "global", "large-numbers"]


def invalid(objects: list[dict[str, Any]], kube_version: str) -> list[str]:
    found = []
    for obj in objects:
        if obj["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = "/".join(str(part) for part in error.absolute_path)
            found.append(f"{obj['kind']}/{obj['metadata']['name']} {where}: {error.message}")
    return found


def leaves(node: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [leaf for key, child in node.items() for leaf in leaves(child, f"{path}/{key}")]
    if isinstance(node, list):
        return [leaf for i, child in enumerate(node) for leaf in leaves(child, f"{path}/{i}")]
    return [(path, node)]


def environment(rendered: Render) -> dict[str, str]:
    env = dict(rendered.get("ConfigMap", "umbrella")["data"])
    secret = rendered.get("Secret", "umbrella").get("data") or {}
    env.update({key: base64.b64decode(value).decode() for key, value in secret.items()})
    return env


def test_the_pinned_helms_are_one_of_each_major() -> None:
    assert run_helm(tools.helm(), "version", "--short").startswith("v4.")
    assert run_helm(tools.helm3(), "version", "--short").startswith("v3.")


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("helm", HELMS)
def test_helm_lint_strict_is_clean(
    helm: str, case: str, value_files: dict[str, list[Path]]
) -> None:
    for kube_version in (OLDEST_KUBERNETES, NEWEST_KUBERNETES):
        report = lint({}, kube_version=kube_version, helm=HELMS[helm](), files=value_files[case])
        assert lint_problems(report) == [], report


@pytest.mark.usefixtures("cached_schemas")
@pytest.mark.parametrize("case", CASES)
def test_both_majors_render_the_same_valid_objects(
    case: str, value_files: dict[str, list[Path]]
) -> None:
    helm4 = render(case=case, files=value_files[case], helm=tools.helm())
    helm3 = render(case=case, files=value_files[case], helm=tools.helm3())
    assert helm3.objects == helm4.objects
    assert len(helm4.objects) > 15
    for kube_version in (OLDEST_KUBERNETES, NEWEST_KUBERNETES):
        assert invalid(helm4.objects, kube_version) == [], kube_version


def test_a_parent_charts_globals_change_nothing(value_files: dict[str, list[Path]]) -> None:
    for helm in HELMS.values():
        alone = render(helm=helm())
        with_globals = render(files=value_files["global"], helm=helm())
        assert with_globals.objects == alone.objects


def test_the_chart_works_as_a_subchart(tmp_path: Path) -> None:
    """A parent chart with this one as a dependency renders it as it renders alone."""
    version = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["version"]
    parent = tmp_path / "platform"
    parent.mkdir()
    (parent / "Chart.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v2",
                "name": "platform",
                "version": "1.0.0",
                "dependencies": [
                    {"name": "umbrella", "version": version, "repository": f"file://{CHART_DIR}"}
                ],
            }
        )
    )
    own = {"api": {"autoscaling": {"enabled": False}, "replicaCount": 3}}
    (parent / "values.yaml").write_text(yaml.safe_dump({**GLOBALS, "umbrella": own}))
    run_helm(tools.helm(), "dependency", "update", str(parent), "--skip-refresh")
    for helm in HELMS.values():
        subchart = render(release="platform", chart=parent, helm=helm())
        alone = render(own, release="platform", helm=helm())
        assert subchart.objects == alone.objects
        assert subchart.get("Deployment", "platform-umbrella-api")["spec"]["replicas"] == 3


@pytest.mark.parametrize("helm", HELMS)
def test_numbers_reach_the_objects_as_written(helm: str) -> None:
    """No number, however large, is printed in exponent form or as a float."""
    rendered = render(large_numbers(), files=[VALUES_DEV], helm=HELMS[helm]())
    data = rendered.get("ConfigMap", "umbrella")["data"]
    for name, value in NUMERIC_SETTINGS.items():
        expected = str(value).lower() if isinstance(value, bool) else str(value)
        assert data[name] == expected, name
        assert not EXPONENT.search(data[name]), name
    assert data["UMBRELLA_SHUTDOWN_GRACE_SECONDS"] == str(25 * SCALE)
    assert data["UMBRELLA_SHUTDOWN_DELAY_SECONDS"] == str(5 * SCALE)
    assert data["OTEL_TRACES_SAMPLER_ARG"] == "0.25"
    job = rendered.get("Job", "umbrella-migrate")["spec"]
    assert job["activeDeadlineSeconds"] == 280 * SCALE
    assert rendered.get("PodDisruptionBudget", "umbrella-worker")["spec"]["maxUnavailable"] == SCALE
    hpa = rendered.get("HorizontalPodAutoscaler", "umbrella-api")["spec"]
    assert hpa["metrics"][1]["pods"]["target"]["averageValue"] == "2000000"
    assert rendered.get("HorizontalPodAutoscaler", "umbrella-worker")["spec"]["maxReplicas"] == (
        6 * SCALE
    )
    ini = rendered.get("ConfigMap", "umbrella-pgbouncer")["data"]["pgbouncer.ini"]
    assert f"default_pool_size = {20 * SCALE}\n" in ini
    statement_ms = (280 - 60) * SCALE - 30
    job_env = {e["name"]: e["value"] for e in job["template"]["spec"]["containers"][0]["env"]}
    assert job_env["UMBRELLA_MIGRATE_STATEMENT_TIMEOUT_MS"] == str(statement_ms * 1000)
    # What the processes read from that environment loads: nothing exits 78.
    env = environment(rendered)
    settings = settings_from_env(env)
    assert settings.max_body_bytes == 10485760
    assert settings.session_ttl_seconds == 2592000
    # ...and everywhere else: whole numbers as integers, none in exponent form in any text.
    for obj in rendered.objects:
        for path, leaf in leaves(obj):
            where = f"{obj['kind']}/{obj['metadata']['name']}{path}"
            assert not isinstance(leaf, float), where
            if isinstance(leaf, str) and obj["kind"] != "Secret":  # base64 may hold "1e+12"
                assert not EXPONENT.search(leaf), (where, leaf)


@pytest.mark.parametrize("helm", HELMS)
def test_a_fractional_drain_is_checked_as_written(helm: str) -> None:
    """2.5 s + 2.5 s of drain leave no margin in a 5 s grace period (not 2 + 2 < 5)."""
    drain = {"api": {"shutdown": {"delaySeconds": 2.5, "graceSeconds": 2.5}}}
    with pytest.raises(HelmError, match=re.escape("(5) must exceed") + ".*" + re.escape("(5)")):
        render(merge(drain, {"api": {"terminationGracePeriodSeconds": 5}}), helm=HELMS[helm]())
    render(merge(drain, {"api": {"terminationGracePeriodSeconds": 6}}), helm=HELMS[helm]())
