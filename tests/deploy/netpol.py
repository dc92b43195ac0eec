"""NetworkPolicies (networking.k8s.io/v1) judged the way a CNI enforces them, for TCP.

A connection is allowed when the source's egress and the destination's ingress both allow
it. A direction is open for a pod that no policy of its namespace selects for that
direction; otherwise a rule of one of the selecting policies must match both the peer and
the port. A connection to a Service is judged after the Service sent it to a backing pod
and its target port, as kube-proxy (or the CNI's own replacement) does before any policy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.deploy.chart import Render


@dataclass(frozen=True)
class Endpoint:
    """A pod (with a namespace) or an address outside the cluster (namespace empty)."""

    name: str
    ip: str
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[str, int] = field(default_factory=dict)  # named container ports


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A label selector (matchLabels and matchExpressions); an empty one selects everything."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = set(expression.get("values") or [])
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def policy_types(spec: Mapping[str, Any]) -> list[str]:
    types: list[str] = spec.get("policyTypes") or [
        "Ingress",
        *(["Egress"] if "egress" in spec else []),
    ]
    return types


@dataclass
class Cluster:
    policies: list[dict[str, Any]]
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)

    def labels_of_namespace(self, namespace: str) -> dict[str, str]:
        return {
            "kubernetes.io/metadata.name": namespace,
            **self.namespace_labels.get(namespace, {}),
        }

    def _peer_matches(self, peer: Mapping[str, Any], namespace: str, other: Endpoint) -> bool:
        if "ipBlock" in peer:
            block = peer["ipBlock"]
            address = ipaddress.ip_address(other.ip)
            if address not in ipaddress.ip_network(block["cidr"]):
                return False
            return not any(
                address in ipaddress.ip_network(cidr) for cidr in block.get("except", [])
            )
        if not other.namespace:
            return False  # selectors only ever match pods
        if "namespaceSelector" in peer:
            in_namespace = selects(
                peer["namespaceSelector"], self.labels_of_namespace(other.namespace)
            )
        else:
            in_namespace = other.namespace == namespace
        return in_namespace and (
            "podSelector" not in peer or selects(peer["podSelector"], other.labels)
        )

    @staticmethod
    def _port_matches(ports: Iterable[Mapping[str, Any]] | None, port: int, to: Endpoint) -> bool:
        if not ports:
            return True
        for entry in ports:
            if entry.get("protocol", "TCP") != "TCP":
                continue
            value = entry.get("port")
            if value is None:
                return True
            if isinstance(value, str):  # a named port of the destination pod
                if to.ports.get(value) == port:
                    return True
            elif value <= port <= entry.get("endPort", value):
                return True
        return False

    def _allows(
        self, direction: str, pod: Endpoint, peer: Endpoint, port: int, to: Endpoint
    ) -> bool:
        selecting = [
            policy["spec"]
            for policy in self.policies
            if pod.namespace
            and policy["metadata"]["namespace"] == pod.namespace
            and selects(policy["spec"]["podSelector"], pod.labels)
            and direction in policy_types(policy["spec"])
        ]
        if not selecting:
            return True
        rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
        for spec in selecting:
            for rule in spec.get(rules_key) or []:
                peers = rule.get(peers_key)
                peer_ok = not peers or any(
                    self._peer_matches(candidate, pod.namespace, peer) for candidate in peers
                )
                if peer_ok and self._port_matches(rule.get("ports"), port, to):
                    return True
        return False

    def can_connect(self, source: Endpoint, destination: Endpoint, port: int) -> bool:
        """Whether `source` may open a TCP connection to `destination` on `port`."""
        return self._allows("Egress", source, destination, port, destination) and self._allows(
            "Ingress", destination, source, port, destination
        )

    def can_reach_service(
        self, source: Endpoint, service: Mapping[str, Any], port_name: str, pods: list[Endpoint]
    ) -> bool:
        """Whether `source` may reach every pod behind `service` on the port named `port_name`."""
        (service_port,) = [p for p in service["spec"]["ports"] if p["name"] == port_name]
        backends = [
            pod
            for pod in pods
            if pod.namespace == service["metadata"]["namespace"]
            and selects({"matchLabels": service["spec"]["selector"]}, pod.labels)
        ]
        assert backends, f"service {service['metadata']['name']} selects no pod"
        for pod in backends:
            target = service_port.get("targetPort", service_port["port"])
            port = pod.ports[target] if isinstance(target, str) else target
            if not self.can_connect(source, pod, port):
                return False
        return True


def pods_of(rendered: Render) -> list[Endpoint]:
    """One pod of each workload the chart renders, with its template's labels and ports."""
    found = []
    for index, (obj, spec) in enumerate(rendered.pod_specs()):
        if obj["kind"] == "Pod":
            labels = obj["metadata"]["labels"]
        elif obj["kind"] == "CronJob":
            labels = obj["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
        else:
            labels = obj["spec"]["template"]["metadata"]["labels"]
        ports = {
            port["name"]: port["containerPort"]
            for container in spec["containers"]
            for port in container.get("ports", [])
            if "name" in port
        }
        found.append(
            Endpoint(
                name=f"{obj['kind']}/{obj['metadata']['name']}",
                ip=f"10.244.0.{index + 10}",
                namespace=obj["metadata"]["namespace"],
                labels=labels,
                ports=ports,
            )
        )
    return found
