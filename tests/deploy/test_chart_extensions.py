"""The extension points of every component (api, worker, cron jobs, migration hook).

An operator adds what the chart cannot know: a CA bundle for a private Postgres or Redis
certificate, environment from their own ConfigMap or Secret, an init container, a sidecar
(a cloud SQL proxy), pod labels and annotations, a PriorityClass. tests/deploy/chart.py's
`extensions` case sets all of them at once; it is also linted, validated and checkov'd with
the rest of the matrix.
"""

from __future__ import annotations

from typing import Any

from tests.deploy.chart import CA_BUNDLE_MOUNT, CA_BUNDLE_VOLUME, Render, render

FULLNAME = "umbrella"
# (values key, component label, container of our image) of every workload of the chart.
COMPONENTS = {
    "api": ("api", "api"),
    "worker": ("worker", "worker"),
    "cronJobs": ("cron", "cron"),
    "migrations": ("migrations", "migrate"),
}


def template_of(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "Pod":
        return obj
    if obj["kind"] == "CronJob":
        template: dict[str, Any] = obj["spec"]["jobTemplate"]["spec"]["template"]
        return template
    template = obj["spec"]["template"]
    return template


def workloads(rendered: Render, component: str) -> list[dict[str, Any]]:
    """Every workload whose pods carry app.kubernetes.io/component `component`."""
    found = [
        obj
        for obj, _ in rendered.pod_specs()
        if obj["kind"] != "Pod"
        and template_of(obj)["metadata"]["labels"]["app.kubernetes.io/component"] == component
    ]
    assert found, component
    return found


def our_container(obj: dict[str, Any], name: str) -> dict[str, Any]:
    containers: list[dict[str, Any]] = template_of(obj)["spec"]["containers"]
    (container,) = [c for c in containers if c["name"] == name]
    return container


def test_a_ca_bundle_reaches_every_container_of_our_image(renders: dict[str, Render]) -> None:
    rendered = renders["extensions"]
    for key, (component, container_name) in COMPONENTS.items():
        for obj in workloads(rendered, component):
            where = f"{key}: {obj['kind']}/{obj['metadata']['name']}"
            spec = template_of(obj)["spec"]
            assert CA_BUNDLE_VOLUME in spec["volumes"], where
            assert {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}} in spec["volumes"], where
            mounts = our_container(obj, container_name)["volumeMounts"]
            assert CA_BUNDLE_MOUNT in mounts, where
            assert {"name": "tmp", "mountPath": "/tmp"} in mounts, where  # noqa: S108
    # The helm test pod checks what the api reaches, with the api's environment and volumes.
    doctor = rendered.get("Pod", f"{FULLNAME}-test-doctor")
    assert CA_BUNDLE_VOLUME in doctor["spec"]["volumes"]
    assert CA_BUNDLE_MOUNT in doctor["spec"]["containers"][0]["volumeMounts"]


def test_extra_environment_comes_from_the_operators_configmap_secret_and_list(
    renders: dict[str, Render],
) -> None:
    rendered = renders["extensions"]
    for key, (component, container_name) in COMPONENTS.items():
        for obj in workloads(rendered, component):
            container = our_container(obj, container_name)
            env_from = container["envFrom"]
            # The chart's own first, the operator's after them (a later source wins a key).
            assert env_from[2:] == [
                {"configMapRef": {"name": f"{FULLNAME}-extra"}},  # its name went through tpl
                {"secretRef": {"name": "umbrella-extra"}},
            ], key
            assert {"configMapRef": {"name": env_from[0]["configMapRef"]["name"]}} == env_from[0]
            assert {
                "name": "UMBRELLA_S3_BUCKET",
                "value": f"{FULLNAME}-{key.lower()}",
            } in container["env"], key


def test_init_containers_and_sidecars_run_beside_ours(renders: dict[str, Render]) -> None:
    rendered = renders["extensions"]
    for key, (component, container_name) in COMPONENTS.items():
        for obj in workloads(rendered, component):
            spec = template_of(obj)["spec"]
            assert [c["name"] for c in spec["initContainers"]] == [f"wait-{FULLNAME}"], key
            # Our container stays first: `kubectl logs` and `exec` default to it.
            assert [c["name"] for c in spec["containers"]] == [container_name, "proxy"], key


def test_pod_labels_are_added_but_never_take_over_a_selector(renders: dict[str, Render]) -> None:
    rendered = renders["extensions"]
    default = renders["default"]
    for key, (component, _) in COMPONENTS.items():
        for obj in workloads(rendered, component):
            metadata = template_of(obj)["metadata"]
            assert metadata["labels"]["team"] == "platform", key
            # values try to set app.kubernetes.io/component: hijacked; the chart's wins.
            assert metadata["labels"]["app.kubernetes.io/component"] == component, key
            assert metadata["annotations"]["example.com/component"] == key, key
    for name in (f"{FULLNAME}-api", f"{FULLNAME}-worker"):
        deployment = rendered.get("Deployment", name)
        assert deployment["spec"]["selector"] == default.get("Deployment", name)["spec"]["selector"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        labels = template_of(deployment)["metadata"]["labels"]
        assert all(labels[k] == v for k, v in selector.items()), name
        service = rendered.get("Service", name)
        assert service["spec"]["selector"] == default.get("Service", name)["spec"]["selector"]


def test_each_component_has_its_own_priority_class(renders: dict[str, Render]) -> None:
    rendered = renders["extensions"]
    for key, (component, _) in COMPONENTS.items():
        for obj in workloads(rendered, component):
            assert template_of(obj)["spec"]["priorityClassName"] == f"umbrella-{key.lower()}"
    # The top-level priorityClassName stays every component's default.
    both = render({"priorityClassName": "business", "worker": {"priorityClassName": "batch"}})
    for obj, spec in both.pod_specs():
        component = template_of(obj)["metadata"]["labels"]["app.kubernetes.io/component"]
        expected = "batch" if component == "worker" else "business"
        assert spec["priorityClassName"] == expected, obj["metadata"]["name"]
    for obj, spec in renders["default"].pod_specs():
        assert "priorityClassName" not in spec, obj["metadata"]["name"]


def test_nothing_is_added_by_default(default: Render) -> None:
    for obj, spec in default.pod_specs():
        where = obj["metadata"]["name"]
        assert "initContainers" not in spec, where
        assert [volume["name"] for volume in spec["volumes"]] == ["tmp"], where
        for container in spec["containers"]:
            assert len(container["envFrom"]) == 2, where


def test_a_strict_spread_leaves_tainted_nodes_out(renders: dict[str, Render]) -> None:
    """DoNotSchedule counting a node the pods cannot go to would leave them pending."""
    api = renders["production"].get("Deployment", f"{FULLNAME}-api")
    spread = template_of(api)["spec"]["topologySpreadConstraints"]
    strict = [c for c in spread if c["whenUnsatisfiable"] == "DoNotSchedule"]
    assert strict
    for constraint in strict:
        assert constraint["nodeTaintsPolicy"] == "Honor"
        assert constraint["nodeAffinityPolicy"] == "Honor"
