"""k8s/: the local cluster's Postgres, Redis and MinIO, as the Tiltfile deploys them."""

from __future__ import annotations

from typing import Any

import kubernetes_validate.utils as kubernetes_validate
import pytest
import yaml

from tests.deploy.chart import OLDEST_KUBERNETES, REPO_ROOT

K8S = REPO_ROOT / "k8s"


def objects() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    found = []
    for resource in kustomization["resources"]:
        found += [doc for doc in yaml.safe_load_all((K8S / resource).read_text()) if doc]
    return found


def pod_specs() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (obj, obj["spec"]["template"]["spec"])
        for obj in objects()
        if obj["kind"] in {"StatefulSet", "Deployment", "Job"}
    ]


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    manifests = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == manifests


@pytest.mark.parametrize("kube_version", [OLDEST_KUBERNETES, kubernetes_validate.latest_version()])
def test_every_manifest_is_valid_kubernetes(kube_version: str) -> None:
    for obj in objects():
        kubernetes_validate.validate(obj, kube_version, strict=True)


def test_the_dependencies_are_what_values_dev_points_at() -> None:
    kinds = {(obj["kind"], obj["metadata"]["name"]) for obj in objects()}
    assert {
        ("StatefulSet", "postgres"),
        ("Service", "postgres"),
        ("StatefulSet", "redis"),
        ("Service", "redis"),
        ("StatefulSet", "minio"),
        ("Service", "minio"),
        ("Job", "minio-bucket"),
        ("Secret", "umbrella-dev-deps"),
    } <= kinds
    for obj in objects():
        # Applied into whatever namespace Tilt (or kubectl -n) uses, next to the chart.
        assert "namespace" not in obj["metadata"], obj["metadata"]["name"]
        if obj["kind"] == "StatefulSet":
            (claim,) = obj["spec"]["volumeClaimTemplates"]
            assert claim["spec"]["resources"]["requests"]["storage"]


def test_every_container_is_bounded_pinned_and_unprivileged() -> None:
    for obj, spec in pod_specs():
        assert spec["automountServiceAccountToken"] is False
        assert spec["enableServiceLinks"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in spec["containers"]:
            where = f"{obj['metadata']['name']}/{container['name']}"
            image = container["image"]
            assert ":" in image, where
            assert not image.endswith(":latest"), where
            assert {"cpu", "memory"} <= set(container["resources"]["limits"]), where
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], where
            if obj["kind"] == "StatefulSet":
                assert "readinessProbe" in container, where
                assert "livenessProbe" in container, where


def test_services_select_their_pods() -> None:
    pods = {obj["metadata"]["name"]: obj["spec"]["template"] for obj, _ in pod_specs()}
    for service in (obj for obj in objects() if obj["kind"] == "Service"):
        template = pods[service["metadata"]["name"]]
        labels = template["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        port_names = {p["name"] for c in template["spec"]["containers"] for p in c["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names
