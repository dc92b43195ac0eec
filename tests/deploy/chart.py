"""Rendering charts/umbrella offline (helm-python-sdk: Helm's Go SDK in a wheel, no cluster)."""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "umbrella"
VALUES_DEV = CHART_DIR / "values-dev.yaml"
VALUES_PRODUCTION = CHART_DIR / "values-production.yaml"
RUNBOOKS = REPO_ROOT / "docs" / "runbooks"
RELEASE = "umbrella"
NAMESPACE = "umbrella"

# Kubernetes versions the rendered objects must be valid for: the oldest we support
# (Chart.yaml kubeVersion allows 1.27, the first with CronJob timeZone GA; 1.29 is the
# oldest still in any provider's support) and the newest kubernetes-validate knows.
OLDEST_KUBERNETES = "1.29.0"

CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"}


def load_values(path: Path) -> dict[str, Any]:
    values: dict[str, Any] = yaml.safe_load(path.read_text())
    return values


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Merge values the way `helm -f a.yaml -f b.yaml` does: maps deep, anything else replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@dataclass(frozen=True)
class Render:
    """One `helm template`: the objects by template, and NOTES.txt."""

    case: str
    templates: dict[str, str]

    @functools.cached_property
    def objects(self) -> list[dict[str, Any]]:
        found = []
        for name, text in sorted(self.templates.items()):
            if not name.endswith((".yaml", ".yml")):
                continue
            found += [doc for doc in yaml.safe_load_all(text) if doc]
        return found

    @property
    def notes(self) -> str:
        return next((t for n, t in self.templates.items() if n.endswith("NOTES.txt")), "")

    @property
    def yaml(self) -> str:
        return "\n---\n".join(yaml.safe_dump(obj, sort_keys=False) for obj in self.objects)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        for obj in self.of_kind(kind):
            if obj["metadata"]["name"] == name:
                return obj
        raise KeyError(f"{kind}/{name} not rendered in case {self.case!r}")

    def names(self, kind: str) -> set[str]:
        return {obj["metadata"]["name"] for obj in self.of_kind(kind)}

    def pod_specs(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(object, pod spec) of every workload."""
        found = []
        for obj in self.objects:
            kind = obj["kind"]
            if kind == "Pod":
                found.append((obj, obj["spec"]))
            elif kind == "CronJob":
                found.append((obj, obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]))
            elif kind in WORKLOAD_KINDS:
                found.append((obj, obj["spec"]["template"]["spec"]))
        return found


def render(
    values: dict[str, Any] | None = None,
    *,
    case: str = "custom",
    release: str = RELEASE,
    namespace: str = NAMESPACE,
) -> Render:
    with helm.Chart.load(CHART_DIR) as chart:
        templates = chart.render(
            values=values or {}, name=release, namespace=namespace, is_install=True
        )
    return Render(case=case, templates=templates)


METRICS_ON = {
    "metrics": {
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}},
        "dashboards": {"enabled": True},
    }
}


def cases() -> dict[str, dict[str, Any]]:
    """The values of every render the tests check: the three files and a matrix of toggles."""
    dev = load_values(VALUES_DEV)
    production = load_values(VALUES_PRODUCTION)
    return {
        "default": {},
        "dev": dev,
        "production": production,
        "ingress-off": {"api": {"ingress": {"enabled": False}}},
        "hpa-off": {"api": {"autoscaling": {"enabled": False}}},
        "hpa-custom-metric": {"api": {"autoscaling": {"customMetric": {"enabled": True}}}},
        "metrics-on": METRICS_ON,
        "metrics-off": merge(
            production,
            {
                "metrics": {
                    "serviceMonitor": {"enabled": False},
                    "prometheusRule": {"enabled": False},
                    "dashboards": {"enabled": False},
                }
            },
        ),
        "existing-secret": {"secrets": {"existingSecret": "umbrella-credentials"}},
        "tracing-on": merge(
            production,
            {
                "tracing": {
                    "otlpEndpoint": "http://otel-collector.observability:4318",
                    "resourceAttributes": "deployment.environment=production",
                }
            },
        ),
        "minimal": {
            "serviceAccount": {"create": False, "name": "platform-default"},
            "networkPolicy": {"enabled": False},
            "api": {"pdb": {"enabled": False}, "ingress": {"tls": {"enabled": False}}},
            "worker": {"pdb": {"enabled": False}},
            "tests": {"enabled": False},
            "migrations": {"hook": {"enabled": False}},
        },
        "production-metrics-on": merge(production, METRICS_ON),
    }


def lint(values: dict[str, Any], *, kube_version: str) -> dict[str, Any]:
    return helm.lint(CHART_DIR, values, strict=True, kube_version=f"v{kube_version}")
