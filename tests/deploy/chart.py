"""Rendering charts/umbrella with a real helm, exactly as it ships.

The objects come from `helm template` (what Tilt's helm() runs, and what `helm install`
renders before it applies anything): helm 4 by default, helm 3 where a test asks for it.
`helm template` does not print NOTES.txt, so Render.notes comes from `helm install
--dry-run=client -o json`, with helm 4 only: helm 3's client-side dry run still asks a
cluster for its version. Each distinct render runs helm once per session (about 0.1 s).
"""

from __future__ import annotations

import copy
import functools
import json
import re
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.deploy import tools
from umbrella.config import ENV_PREFIX, Settings, load_settings

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

# Custom resources: kubernetes-validate does not know them, tests/deploy/crd_schemas.py does.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule", "ScaledObject"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"}


class HelmError(Exception):
    """helm refused the chart or the values; the message is what helm printed."""


def run_helm(binary: str, *args: str, values: dict[str, Any] | None = None) -> str:
    """helm's stdout; `values` are passed last as a values file (`-f`), as an operator would."""
    return _run(binary, args, None if values is None else json.dumps(values, sort_keys=True))


@functools.cache
def _run(binary: str, args: tuple[str, ...], values_json: str | None) -> str:
    with tempfile.TemporaryDirectory(prefix="umbrella-values-") as directory:
        values_args: tuple[str, ...] = ()
        if values_json is not None:
            values_file = Path(directory) / "values.yaml"
            values_file.write_text(values_json)  # JSON is YAML; numbers stay numbers
            values_args = ("--values", str(values_file))
        completed = subprocess.run(
            [binary, *args, *values_args],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    if completed.returncode != 0:
        # helm lint reports on stdout and sums up on stderr: keep both.
        raise HelmError(
            "\n".join(filter(None, (completed.stdout.strip(), completed.stderr.strip())))
        )
    return completed.stdout


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
    """One `helm template`: its output and how it was asked for."""

    case: str
    text: str
    install_args: tuple[str, ...]
    values: str

    @functools.cached_property
    def documents(self) -> list[tuple[str, dict[str, Any]]]:
        """(template, object) in helm's order: hooks and the test pod come last."""
        found = []
        for chunk in re.split(r"^---\s*$", self.text, flags=re.M):
            source = re.search(r"^# Source: (\S+)", chunk, flags=re.M)
            doc = yaml.safe_load(chunk)
            if doc:
                found.append((source.group(1) if source else "", doc))
        return found

    @property
    def objects(self) -> list[dict[str, Any]]:
        return [doc for _, doc in self.documents]

    @property
    def notes(self) -> str:
        release = json.loads(
            run_helm(
                tools.helm(), "install", *self.install_args, "--dry-run=client", "--output", "json",
                values=json.loads(self.values),
            )
        )  # fmt: skip
        notes: str = release["info"].get("notes", "")
        return notes

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
    files: Sequence[Path] = (),
    set_values: Sequence[str] = (),
    helm: str | None = None,
    chart: Path = CHART_DIR,
) -> Render:
    """`helm template` of the chart: `files` (-f) first, then `values`, then `set_values`."""
    install_args = (
        release,
        str(chart),
        "--namespace",
        namespace,
        *(arg for file in files for arg in ("--values", str(file))),
        *(arg for setting in set_values for arg in ("--set", setting)),
    )
    text = run_helm(helm or tools.helm(), "template", *install_args, values=values or {})
    return Render(
        case=case,
        text=text,
        install_args=install_args,
        values=json.dumps(values or {}, sort_keys=True),
    )


METRICS_ON = {
    "metrics": {
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}},
        "dashboards": {"enabled": True},
    }
}


# A container an operator adds (init container or sidecar), as hardened as the chart's own.
def added_container(name: str, *, probed: bool) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": "registry.example.com/tools/busybox:1.37",
        "args": ["sh", "-c", "true"],
        "resources": {
            "requests": {"cpu": "10m", "memory": "16Mi"},
            "limits": {"cpu": "100m", "memory": "32Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108
    }
    if probed:
        probe = {"exec": {"command": ["true"]}, "periodSeconds": 10}
        container |= {"startupProbe": probe, "livenessProbe": probe, "readinessProbe": probe}
    return container


CA_BUNDLE_VOLUME = {"name": "postgres-ca", "configMap": {"name": "postgres-ca"}}
CA_BUNDLE_MOUNT = {"name": "postgres-ca", "mountPath": "/etc/umbrella/ca", "readOnly": True}


def extensions(component: str, *, long_running: bool) -> dict[str, Any]:
    """Every extension point of one component, set as an operator would (some through tpl)."""
    return {
        "priorityClassName": f"umbrella-{component.lower()}",
        "extraEnvVars": [
            {"name": "UMBRELLA_S3_BUCKET", "value": "{{ .Release.Name }}-" + component.lower()}
        ],
        "extraEnvVarsCM": "{{ .Release.Name }}-extra",
        "extraEnvVarsSecret": "umbrella-extra",
        "extraVolumes": [CA_BUNDLE_VOLUME],
        "extraVolumeMounts": [CA_BUNDLE_MOUNT],
        "initContainers": [added_container("wait-{{ .Release.Name }}", probed=False)],
        "sidecars": [added_container("proxy", probed=long_running)],
        "podAnnotations": {"example.com/component": component},
        # The chart's component label must win over this one.
        "podLabels": {"team": "platform", "app.kubernetes.io/component": "hijacked"},
    }


EXTENSIONS = {
    "api": extensions("api", long_running=True),
    "worker": extensions("worker", long_running=True),
    "cronJobs": extensions("cronJobs", long_running=False),
    "migrations": extensions("migrations", long_running=False),
}


# PgBouncer in front of a Postgres at db.internal (10.20.0.5 in values-production.yaml's CIDR).
PGBOUNCER = {
    "config": {"env": {"UMBRELLA_DB_STATEMENT_TIMEOUT_MS": "15000"}},
    "secrets": {
        "env": {
            "UMBRELLA_DATABASE_URL": "postgresql://umbrella:pw@umbrella-pgbouncer:6432/umbrella",
            "UMBRELLA_DIRECT_DATABASE_URL": "postgresql://umbrella:pw@db.internal:5432/umbrella",
        }
    },
    "pgbouncer": {
        "enabled": True,
        "upstream": {"host": "db.internal"},
        "auth": {"userlist": '"umbrella" "pw"\n'},
    },
    "networkPolicy": {"postgres": {"to": [{"ipBlock": {"cidr": "10.20.0.0/24"}}]}},
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
        "extensions": EXTENSIONS,
        "worker-hpa": {"worker": {"autoscaling": {"enabled": True}}},
        "worker-keda": {"worker": {"keda": {"enabled": True, "authenticationRef": "prometheus"}}},
        "pgbouncer": PGBOUNCER,
    }


def lint(
    values: dict[str, Any],
    *,
    kube_version: str,
    helm: str | None = None,
    files: Sequence[Path] = (),
) -> str:
    """`helm lint --strict`'s report; HelmError when it fails."""
    return run_helm(
        helm or tools.helm(), "lint", str(CHART_DIR), "--strict", "--kube-version", kube_version,
        *(arg for file in files for arg in ("--values", str(file))),
        values=values,
    )  # fmt: skip


def lint_problems(report: str) -> list[str]:
    """What `helm lint` found beyond [INFO] (a missing icon is only that)."""
    return [line for line in report.splitlines() if re.match(r"\s*\[(WARNING|ERROR)\]", line)]


# What an operator's Secret holds at the least, for environments that must load as settings.
SAMPLE_CREDENTIALS = {
    "UMBRELLA_DATABASE_URL": "postgresql://umbrella:pw@db.internal:5432/umbrella",
    "UMBRELLA_REDIS_URL": "redis://redis:6379/0",
    "UMBRELLA_S3_ENDPOINT": "https://s3.example.com",
    "UMBRELLA_S3_ACCESS_KEY": "a",
    "UMBRELLA_S3_SECRET_KEY": "s3-secret",
    "UMBRELLA_SECRET_KEY": "k" * 48,
    "UMBRELLA_EMAIL_BACKEND": "console",
    "UMBRELLA_SMS_BACKEND": "console",
}


def settings_from_env(env: dict[str, str]) -> Settings:
    """The settings a process of our image loads from `env` (exits 78 → SettingsError here)."""
    return load_settings(**{key.removeprefix(ENV_PREFIX).lower(): v for key, v in env.items()})
