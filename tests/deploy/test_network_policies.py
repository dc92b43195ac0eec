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
    {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"},
)
# The controller's admission webhook job lives in the same namespace: it has no business here.
INGRESS_WEBHOOK = Endpoint(
    "Pod/ingress-nginx-admission-create",
    "10.244.2.2",
    "ingress-nginx",
    {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "admission-webhook"},
)
TRAEFIK = Endpoint("Pod/traefik", "10.244.2.3", "traefik", {"app.kubernetes.io/name": "traefik"})
PROMETHEUS = Endpoint(
    "Pod/prometheus", "10.244.3.1", "monitoring", {"app.kubernetes.io/name": "prometheus"}
)
KUBE_DNS = Endpoint("Pod/coredns", "10.244.4.1", "kube-system", {"k8s-app": "kube-dns"})
NODE_LOCAL_DNS = Endpoint("node-local-dns", "169.254.20.10")
COLLECTOR = Endpoint(
    "Pod/otel-collector",
    "10.244.5.1",
    "observability",
    {"app.kubernetes.io/name": "opentelemetry-collector"},
)
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


def test_only_the_ingress_controllers_own_pods_reach_the_api(default: Render) -> None:
    assert reaches_api(default, INGRESS_CONTROLLER)
    assert not reaches_api(default, INGRESS_WEBHOOK)
    assert not reaches_api(default, TRAEFIK)


def test_another_ingress_controller_by_its_recipe() -> None:
    """The Traefik recipe of values.yaml's comments."""
    traefik = [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}},
        }
    ]
    rendered = render({"networkPolicy": {"ingressFrom": traefik}})
    assert reaches_api(rendered, TRAEFIK)
    assert not reaches_api(rendered, INGRESS_CONTROLLER)


def test_prometheus_in_another_namespace() -> None:
    """kube-prometheus-stack in its own namespace, narrowed to its Prometheus pods."""
    elsewhere = Endpoint(
        "Pod/prometheus-kps-0",
        "10.244.3.2",
        "kube-prometheus-stack",
        {"app.kubernetes.io/name": "prometheus"},
    )
    grafana = Endpoint(
        "Pod/grafana", "10.244.3.3", "kube-prometheus-stack", {"app.kubernetes.io/name": "grafana"}
    )
    peers = [
        {
            "namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": "kube-prometheus-stack"}
            },
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }
    ]
    rendered = render({"networkPolicy": {"metricsFrom": peers}})
    cluster, pods = setup(rendered)
    worker = pods[f"Deployment/{FULLNAME}-worker"]
    assert reaches_api(rendered, elsewhere)
    assert cluster.can_connect(elsewhere, worker, worker.ports["metrics"])
    assert not reaches_api(rendered, PROMETHEUS)  # monitoring is no longer a scraper's home
    assert not cluster.can_connect(grafana, worker, worker.ports["metrics"])


def test_node_local_dns_is_reached_when_it_is_on(default: Render) -> None:
    cluster, pods = setup(default)
    for name, pod in pods.items():
        assert not cluster.can_connect(pod, NODE_LOCAL_DNS, 53), name
    rendered = render({"networkPolicy": {"dns": {"nodeLocal": {"enabled": True}}}})
    cluster, pods = setup(rendered)
    for name, pod in pods.items():
        assert cluster.can_connect(pod, NODE_LOCAL_DNS, 53), name
        assert cluster.can_connect(pod, KUBE_DNS, 53), name  # its upstream, and a fallback
        assert not cluster.can_connect(pod, NODE_LOCAL_DNS, 80), name


def test_the_tracing_collector_is_reached_only_when_tracing_is_on(
    renders: dict[str, Render],
) -> None:
    cluster, pods = setup(renders["production"])
    for name, pod in pods.items():
        assert not cluster.can_connect(pod, COLLECTOR, 4318), name
    # tracing-on: production's values with http://otel-collector.observability:4318
    cluster, pods = setup(renders["tracing-on"])
    for name, pod in pods.items():
        assert cluster.can_connect(pod, COLLECTOR, 4318), name
        assert not cluster.can_connect(pod, COLLECTOR, 4317), name
        assert not cluster.can_connect(pod, STRANGER, 4318), name  # only the collector's pods


def test_the_collector_port_comes_from_the_endpoint() -> None:
    for endpoint, port in (
        ("http://collector.observability:4318", 4318),
        ("https://otlp.example.com", 443),
        ("http://collector.observability", 80),
        ("http://[fd00::1]:14318", 14318),
    ):
        rendered = render({"tracing": {"otlpEndpoint": endpoint}})
        cluster, pods = setup(rendered)
        api = pods[f"Deployment/{FULLNAME}-api"]
        # No `to`: any destination on that port, in the cluster or not.
        assert cluster.can_connect(api, COLLECTOR, port), endpoint
        assert cluster.can_connect(api, Endpoint("otlp", "10.99.0.9"), port), endpoint
    explicit = render(
        {
            "tracing": {"otlpEndpoint": "http://collector:4318"},
            "networkPolicy": {"tracing": {"ports": [4317, 4318]}},
        }
    )
    cluster, pods = setup(explicit)
    assert cluster.can_connect(pods[f"Deployment/{FULLNAME}-api"], COLLECTOR, 4317)
