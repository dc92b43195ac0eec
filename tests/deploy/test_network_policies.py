"""Who may talk to whom under the chart's NetworkPolicies, judged as a CNI enforces them."""

from __future__ import annotations

from tests.deploy.chart import Render, render
from tests.deploy.netpol import Cluster, Endpoint, pods_of

FULLNAME = "umbrella"
NAMESPACE = "umbrella"

STRANGER = Endpoint("Pod/stranger", "10.244.1.1", NAMESPACE, {"app": "stranger"})
INGRESS_CONTROLLER = Endpoint(
    "Pod/ingress-nginx-controller",
    "10.244.2.1",
    "ingress-nginx",
    {"app.kubernetes.io/name": "ingress-nginx"},
)
PROMETHEUS = Endpoint(
    "Pod/prometheus", "10.244.3.1", "monitoring", {"app.kubernetes.io/name": "prometheus"}
)
KUBE_DNS = Endpoint("Pod/coredns", "10.244.4.1", "kube-system", {"k8s-app": "kube-dns"})
DATABASE = Endpoint("postgres.internal", "10.20.0.5")  # values-production.yaml's CIDR
ELSEWHERE = Endpoint("another.internal", "10.99.0.5")
RESEND = Endpoint("api.resend.com", "104.18.0.1")


def setup(rendered: Render) -> tuple[Cluster, dict[str, Endpoint]]:
    pods = {pod.name: pod for pod in pods_of(rendered)}
    return Cluster(rendered.of_kind("NetworkPolicy")), pods


def reaches_api(rendered: Render, source: Endpoint) -> bool:
    cluster, pods = setup(rendered)
    api = rendered.get("Service", f"{FULLNAME}-api")
    return cluster.can_reach_service(source, api, "http", list(pods.values()))


def test_the_helm_test_pod_reaches_the_api(default: Render) -> None:
    """`helm test` checks the api's /readyz through its Service."""
    _, pods = setup(default)
    assert reaches_api(default, pods[f"Pod/{FULLNAME}-test-doctor"]), "helm test would fail"


def test_the_helm_test_pod_needs_no_other_peer_of_the_api() -> None:
    rendered = render({"networkPolicy": {"ingressFrom": [], "metricsFrom": []}})
    _, pods = setup(rendered)
    assert reaches_api(rendered, pods[f"Pod/{FULLNAME}-test-doctor"]), "helm test would fail"
    assert not reaches_api(rendered, INGRESS_CONTROLLER)


def test_nothing_else_in_the_namespace_reaches_the_api(default: Render) -> None:
    _, pods = setup(default)
    assert not reaches_api(default, STRANGER)
    for name, pod in pods.items():
        if pod.labels["app.kubernetes.io/component"] in {"worker", "cron", "migrations"}:
            assert not reaches_api(default, pod), name


def test_the_ingress_controller_and_prometheus_reach_their_ports(default: Render) -> None:
    cluster, pods = setup(default)
    assert reaches_api(default, INGRESS_CONTROLLER)
    assert reaches_api(default, PROMETHEUS)
    worker = pods[f"Deployment/{FULLNAME}-worker"]
    assert cluster.can_connect(PROMETHEUS, worker, worker.ports["metrics"])
    assert not cluster.can_connect(INGRESS_CONTROLLER, worker, worker.ports["metrics"])
    assert not cluster.can_connect(STRANGER, worker, worker.ports["metrics"])


def test_every_pod_reaches_dns_its_dependencies_and_the_providers(default: Render) -> None:
    cluster, pods = setup(default)
    for name, pod in pods.items():
        assert cluster.can_connect(pod, KUBE_DNS, 53), name
        assert cluster.can_connect(pod, DATABASE, 5432), name
        assert cluster.can_connect(pod, RESEND, 443), name
        assert not cluster.can_connect(pod, ELSEWHERE, 22), name
        assert not cluster.can_connect(pod, STRANGER, 8080), name


def test_production_reaches_postgres_only_at_its_address(renders: dict[str, Render]) -> None:
    cluster, pods = setup(renders["production"])
    api = pods[f"Deployment/{FULLNAME}-api"]
    assert cluster.can_connect(api, DATABASE, 5432)
    assert not cluster.can_connect(api, ELSEWHERE, 5432)
    assert cluster.can_connect(api, Endpoint("redis.internal", "10.20.1.5"), 6380)
    assert not cluster.can_connect(api, ELSEWHERE, 6380)


def test_without_policies_nothing_is_filtered(renders: dict[str, Render]) -> None:
    rendered = renders["minimal"]
    assert not rendered.of_kind("NetworkPolicy")
    assert reaches_api(rendered, STRANGER)
