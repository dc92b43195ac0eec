"""The Tiltfile, run offline against recording stand-ins of Tilt's built-ins.

Starlark is a subset of Python, so the Tiltfile runs as Python here; the stand-ins record
what it asks Tilt to do, and the tests check that the result is a working dev loop: every
resource exists, dependencies point at real resources in a sensible order, live_update
syncs the code, the ports are forwarded. The helm() stand-in does what Tilt's does: it runs
`helm template` (the real helm) and drops the documents of templates under tests/; every
other object, a Helm hook included, is applied as an ordinary object.
"""

from __future__ import annotations

import ast
import base64
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.chart import REPO_ROOT, load_values, render

TILTFILE = REPO_ROOT / "Tiltfile"
K8S = REPO_ROOT / "k8s"
DEV_VALUES = REPO_ROOT / "charts" / "umbrella" / "values-dev.yaml"
TRIGGER_MODE_MANUAL = "manual"
TRIGGER_MODE_AUTO = "auto"


@dataclass
class Tilt:
    builds: list[dict[str, Any]] = field(default_factory=list)
    yaml_objects: list[dict[str, Any]] = field(default_factory=list)
    k8s_resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    local_resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    helm_calls: list[dict[str, Any]] = field(default_factory=list)
    version_constraints: list[str] = field(default_factory=list)

    def builtins(self) -> dict[str, Any]:
        def docker_build(ref: str, context: str = ".", **kwargs: Any) -> None:
            self.builds.append({"ref": ref, "context": context, **kwargs})

        def helm(
            path: str,
            name: str = "",
            namespace: str = "",
            values: list[str] | None = None,
            set: list[str] | None = None,
        ) -> str:
            call = {
                "path": path,
                "name": name,
                "namespace": namespace,
                "values": values or [],
                "set": set or [],
            }
            self.helm_calls.append(call)
            text = render(
                release=name,
                namespace=namespace or "default",
                chart=REPO_ROOT / path,
                files=[REPO_ROOT / file for file in values or []],
                set_values=set or [],
            ).text
            # Tilt's filterHelmTestYAML: split on "---\n", drop what a tests/ template made.
            kept = [
                chunk
                for chunk in text.split("---\n")
                if not re.search(r"^# Source: .*/tests/", chunk, flags=re.M)
            ]
            return "---\n".join(kept)

        def version_settings(check_updates: bool = True, constraint: str = "") -> None:
            self.version_constraints.append(constraint)

        def kustomize(path: str) -> str:
            kustomization = yaml.safe_load((REPO_ROOT / path / "kustomization.yaml").read_text())
            return "\n---\n".join(
                (REPO_ROOT / path / resource).read_text() for resource in kustomization["resources"]
            )

        def k8s_yaml(blob: str) -> None:
            self.yaml_objects += [doc for doc in yaml.safe_load_all(blob) if doc]

        def k8s_resource(workload: str, **kwargs: Any) -> None:
            assert workload not in self.k8s_resources, f"{workload} configured twice"
            self.k8s_resources[workload] = kwargs

        def local_resource(name: str, **kwargs: Any) -> None:
            assert name not in self.local_resources, f"{name} defined twice"
            self.local_resources[name] = kwargs

        def decode_yaml_stream(blob: str) -> list[Any]:
            return list(yaml.safe_load_all(blob))

        return {
            "version_settings": version_settings,
            "docker_build": docker_build,
            "helm": helm,
            "kustomize": kustomize,
            "k8s_yaml": k8s_yaml,
            "k8s_resource": k8s_resource,
            "local_resource": local_resource,
            "decode_yaml_stream": decode_yaml_stream,
            "sync": lambda local, remote: ("sync", local, remote),
            "run": lambda cmd, trigger=(): ("run", cmd, list(trigger)),
            "fall_back_on": lambda files: ("fall_back_on", list(files)),
            "port_forward": lambda local, remote=None, name=None: (local, remote or local, name),
            "link": lambda url, name="": (url, name),
            "k8s_namespace": lambda: "dev-namespace",
            "TRIGGER_MODE_MANUAL": TRIGGER_MODE_MANUAL,
            "TRIGGER_MODE_AUTO": TRIGGER_MODE_AUTO,
        }

    def workloads(self) -> set[str]:
        kinds = {"Deployment", "StatefulSet", "Job", "CronJob", "DaemonSet", "Pod"}
        return {obj["metadata"]["name"] for obj in self.yaml_objects if obj["kind"] in kinds}

    def resources(self) -> dict[str, dict[str, Any]]:
        """Every Tilt resource: one per workload (configured or not) and the local ones."""
        found: dict[str, dict[str, Any]] = {name: {} for name in self.workloads()}
        found.update(self.k8s_resources)
        found.update(self.local_resources)
        return found


@pytest.fixture(scope="module")
def tilt() -> Tilt:
    recorder = Tilt()
    source = TILTFILE.read_text()
    exec(compile(source, str(TILTFILE), "exec"), recorder.builtins())  # noqa: S102
    return recorder


def test_the_tiltfile_is_starlark() -> None:
    """What Starlark lacks must not be used: it would pass here and fail under Tilt."""
    tree = ast.parse(TILTFILE.read_text())
    for node in ast.walk(tree):
        assert not isinstance(
            node,
            ast.Import
            | ast.ImportFrom
            | ast.ClassDef
            | ast.While
            | ast.Try
            | ast.With
            | ast.JoinedStr
            | ast.Global
            | ast.Nonlocal
            | ast.Yield
            | ast.AsyncFunctionDef
            | ast.Set,
        ), f"line {getattr(node, 'lineno', '?')}: {type(node).__name__} is not Starlark"


def test_the_image_is_built_with_live_update(tilt: Tilt) -> None:
    (build,) = tilt.builds
    assert build["ref"] == "umbrella"
    assert build["target"] == "dev"
    steps = build["live_update"]
    assert steps[0][0] == "fall_back_on", "fall_back_on must come first"
    assert ("sync", "umbrella", "/app/umbrella") in steps
    runs = [step for step in steps if step[0] == "run"]
    assert any("pip install" in cmd and "pyproject.toml" in trigger for _, cmd, trigger in runs)
    synced = {step[1] for step in steps if step[0] == "sync"}
    assert synced <= set(build["only"])
    # The chart's dev image is the one Tilt builds (Tilt swaps in its own tag).
    images = {
        container["image"].split(":")[0]
        for obj in tilt.yaml_objects
        if obj["kind"] == "Deployment" and obj["metadata"]["name"].startswith("umbrella-")
        for container in obj["spec"]["template"]["spec"]["containers"]
    }
    assert images == {build["ref"]}


def test_tilt_is_new_enough_to_start_the_cronjobs(tilt: Tilt) -> None:
    """Tilt before 0.37.1 leaves the chart's CronJobs pending."""
    (constraint,) = tilt.version_constraints
    found = re.fullmatch(r">=\s*(\d+)\.(\d+)\.(\d+)", constraint)
    assert found, constraint
    assert tuple(int(part) for part in found.groups()) >= (0, 37, 1)


def _reinstall_step(tilt: Tilt) -> str:
    (build,) = tilt.builds
    (cmd,) = [
        cmd
        for kind, *rest in build["live_update"]
        if kind == "run"
        for cmd, trigger in [rest]
        if "pyproject.toml" in trigger
    ]
    assert isinstance(cmd, str)
    return cmd


def _dev_image_paths_owned_by(uid: int) -> list[str]:
    """What the Dockerfile's dev stage chowns to `uid` (the user the dev pods run as)."""
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    dev = dockerfile.split(" AS dev", 1)[1].split("\nFROM ", 1)[0]
    owned = []
    for paths in re.findall(rf"chown -R {uid}:{uid} ([^\n&\\]+)", dev):
        owned += paths.split()
    return owned


def test_new_dependencies_go_into_the_images_virtualenv(tilt: Tilt) -> None:
    cmd = _reinstall_step(tilt)
    # The virtualenv's own pip: the base image's pip installs into another Python.
    assert "/opt/venv/bin/python -m pip install" in cmd
    assert "--no-cache-dir" in cmd
    # pip builds in TMPDIR, which must not be the chart's size-limited /tmp...
    tmpdir = re.search(r"TMPDIR=(\S+)", cmd)
    assert tmpdir, "pip would build in /tmp"
    directory = Path(tmpdir.group(1))
    (api,) = [
        o
        for o in tilt.yaml_objects
        if (o["kind"], o["metadata"]["name"]) == ("Deployment", "umbrella-api")
    ]
    pod = api["spec"]["template"]["spec"]
    limited = {v["name"] for v in pod["volumes"] if v.get("emptyDir", {}).get("sizeLimit")}
    for mount in pod["containers"][0]["volumeMounts"]:
        if mount["name"] in limited:
            assert not directory.is_relative_to(mount["mountPath"]), mount
    # ...but a directory the pods' user may write in the dev image, removed afterwards.
    uid = pod["securityContext"]["runAsUser"]
    assert any(directory.is_relative_to(path) for path in _dev_image_paths_owned_by(uid))
    assert f"rm -rf {directory}" in cmd


@pytest.mark.parametrize("pip_status", [0, 1])
def test_the_reinstall_step_cleans_up_and_reports_pip(
    tilt: Tilt, tmp_path: Path, pip_status: int
) -> None:
    """Run the step with a stand-in for the virtualenv's python, under a scratch root."""
    cmd = _reinstall_step(tilt)
    seen = tmp_path / "seen"
    python = tmp_path / "python"
    python.write_text(
        f'#!/bin/sh\necho "$TMPDIR $*" > {seen}\ntouch "$TMPDIR/build"\nexit {pip_status}\n'
    )
    python.chmod(0o755)
    root = tmp_path / "root"
    (root / "app").mkdir(parents=True)
    # Only the basic tools on PATH: no pip or python of this machine may run.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("mkdir", "rm", "touch"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    local = cmd.replace("/opt/venv/bin/python", str(python)).replace("/app", f"{root}/app")
    completed = subprocess.run(
        ["/bin/sh", "-c", local],
        env={"PATH": str(bin_dir)}, capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    assert completed.returncode == pip_status, completed.stderr
    tmpdir, *args = seen.read_text().split()
    assert tmpdir.startswith(f"{root}/app/")
    assert args[:3] == ["-m", "pip", "install"]
    assert not Path(tmpdir).exists(), "the build directory is left behind"


def test_the_chart_is_deployed_with_the_dev_values(tilt: Tilt) -> None:
    (call,) = tilt.helm_calls
    assert call["path"] == "charts/umbrella"
    assert call["values"] == ["charts/umbrella/values-dev.yaml"]
    # The chart's objects go where the k8s/ ones (which name no namespace) go.
    assert call["namespace"] == "dev-namespace"
    names = tilt.workloads()
    assert {
        "umbrella-api",
        "umbrella-worker",
        "postgres",
        "redis",
        "minio",
        "minio-bucket",
    } <= names
    assert not any(
        obj["kind"] == "Job" and "migrate" in obj["metadata"]["name"] for obj in tilt.yaml_objects
    )


def test_every_configured_resource_exists_and_is_labelled(tilt: Tilt) -> None:
    workloads = tilt.workloads()
    for name, options in tilt.k8s_resources.items():
        assert name in workloads, f"k8s_resource({name!r}) names no workload"
        assert options.get("labels"), name
    assert set(tilt.k8s_resources) == workloads, "every workload is configured (labels, deps)"
    for name, options in tilt.local_resources.items():
        assert options.get("labels"), name


def test_dependencies_start_things_in_order(tilt: Tilt) -> None:
    resources = tilt.resources()
    for name, options in resources.items():
        for dependency in options.get("resource_deps", []):
            assert dependency in resources, f"{name} depends on unknown {dependency!r}"

    def upstream(name: str, seen: tuple[str, ...] = ()) -> set[str]:
        assert name not in seen, f"dependency cycle: {' -> '.join((*seen, name))}"
        direct = set(resources[name].get("resource_deps", []))
        return direct.union(*(upstream(dep, (*seen, name)) for dep in direct))

    assert "postgres" in upstream("migrate")
    for workload in ("umbrella-api", "umbrella-worker"):
        assert {"migrate", "postgres", "redis", "minio", "minio-bucket"} <= upstream(workload)
    cronjobs = [o["metadata"]["name"] for o in tilt.yaml_objects if o["kind"] == "CronJob"]
    assert cronjobs
    for cronjob in cronjobs:
        assert "migrate" in upstream(cronjob)


def test_migrations_run_locally_against_the_forwarded_postgres(tilt: Tilt) -> None:
    migrate = tilt.local_resources["migrate"]
    assert "umbrella migrate" in migrate["cmd"]
    assert "migrations" in migrate["deps"]
    env = migrate["env"]
    (forward,) = tilt.k8s_resources["postgres"]["port_forwards"]
    local_port = int(forward.split(":")[0])
    assert env["UMBRELLA_DATABASE_URL"].startswith("postgresql://")
    assert f"127.0.0.1:{local_port}/" in env["UMBRELLA_DATABASE_URL"]
    # The same credentials as the cluster's Postgres.
    secret = yaml.safe_load((K8S / "dev-secrets.yaml").read_text())["stringData"]
    assert (
        f"{secret['POSTGRES_USER']}:{secret['POSTGRES_PASSWORD']}@" in env["UMBRELLA_DATABASE_URL"]
    )
    assert env["UMBRELLA_EMAIL_BACKEND"] == env["UMBRELLA_SMS_BACKEND"] == "console"


def test_both_dev_paths_migrate(tilt: Tilt) -> None:
    """Tilt runs `umbrella migrate` itself; without Tilt the chart's hook does."""
    # Tilt applies a hook as an ordinary object, so the Tiltfile leaves the hook out...
    (call,) = tilt.helm_calls
    assert "migrations.hook.enabled=false" in call["set"]
    assert ("Job", "umbrella-migrate") not in {
        (obj["kind"], obj["metadata"]["name"]) for obj in tilt.yaml_objects
    }
    assert "umbrella migrate" in tilt.local_resources["migrate"]["cmd"]
    # ...and `kubectl apply -k k8s/`, then `helm install -f values-dev.yaml` migrates first.
    rendered = render(files=[DEV_VALUES], namespace="default")
    job = rendered.get("Job", "umbrella-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    credentials = rendered.get("Secret", "umbrella-migrate")["data"]
    dev = load_values(DEV_VALUES)["secrets"]["env"]
    database_url = base64.b64decode(credentials["UMBRELLA_DATABASE_URL"]).decode()
    assert database_url == dev["UMBRELLA_DATABASE_URL"]


def test_the_api_minio_console_and_postgres_are_forwarded(tilt: Tilt) -> None:
    api = tilt.k8s_resources["umbrella-api"]["port_forwards"]
    assert (8080, 8080, "API") in api
    minio = tilt.k8s_resources["minio"]["port_forwards"]
    assert any(forward[0] == 9001 for forward in minio), "MinIO console"
    assert tilt.k8s_resources["postgres"]["port_forwards"]


def test_browsers_reach_the_dev_minio_through_the_forwarded_port(tilt: Tilt) -> None:
    """Presigned links name UMBRELLA_S3_PUBLIC_ENDPOINT's host: a browser must resolve it."""
    env = load_values(DEV_VALUES)["config"]["env"]
    minio = next(
        o for o in tilt.yaml_objects if (o["kind"], o["metadata"]["name"]) == ("Service", "minio")
    )
    (s3_port,) = [p["port"] for p in minio["spec"]["ports"] if p["name"] == "s3"]
    (local,) = [f[0] for f in tilt.k8s_resources["minio"]["port_forwards"] if f[1] == s3_port]
    assert env["UMBRELLA_S3_PUBLIC_ENDPOINT"] == f"http://localhost:{local}"
    assert env["UMBRELLA_S3_ENDPOINT"] == f"http://minio:{s3_port}"  # the pods' way in


def test_each_cron_job_can_be_run_on_demand(tilt: Tilt) -> None:
    cronjobs = [o["metadata"]["name"] for o in tilt.yaml_objects if o["kind"] == "CronJob"]
    for cronjob in cronjobs:
        runner = tilt.local_resources[f"run {cronjob}"]
        assert f"--from=cronjob/{cronjob}" in runner["cmd"]
        assert runner["trigger_mode"] == TRIGGER_MODE_MANUAL
        assert runner["auto_init"] is False


def test_dev_credentials_agree_between_k8s_and_the_chart() -> None:
    secret = yaml.safe_load((K8S / "dev-secrets.yaml").read_text())["stringData"]
    values = load_values(Path(REPO_ROOT / "charts/umbrella/values-dev.yaml"))
    env = values["secrets"]["env"]
    assert env["UMBRELLA_DATABASE_URL"] == (
        f"postgresql://{secret['POSTGRES_USER']}:{secret['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{secret['POSTGRES_DB']}"
    )
    assert env["UMBRELLA_S3_ACCESS_KEY"] == secret["MINIO_ROOT_USER"]
    assert env["UMBRELLA_S3_SECRET_KEY"] == secret["MINIO_ROOT_PASSWORD"]
    assert values["config"]["env"]["UMBRELLA_S3_BUCKET"] == secret["MINIO_BUCKET"]
