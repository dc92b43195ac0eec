"""What the chart renders, checked object by object, for every case of the matrix."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from tests.deploy.chart import (
    CHART_DIR,
    VALUES_DEV,
    VALUES_PRODUCTION,
    HelmError,
    Render,
    load_values,
    merge,
    render,
    settings_from_env,
)
from umbrella.config import ENV_PREFIX, Settings

FULLNAME = "umbrella"
LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet"}


def setting_names() -> set[str]:
    return {ENV_PREFIX + name.upper() for name in Settings.model_fields}


def secret_setting_names() -> set[str]:
    """Settings that hold a credential: SecretStr fields and the DSNs that embed a password."""
    secret = {
        ENV_PREFIX + name.upper()
        for name, field in Settings.model_fields.items()
        if SecretStr in (getattr(field.annotation, "__args__", None) or (field.annotation,))
    }
    return secret | {"UMBRELLA_DATABASE_URL", "UMBRELLA_DIRECT_DATABASE_URL", "UMBRELLA_REDIS_URL"}


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    if obj["kind"] == "Pod":
        template = obj
    elif obj["kind"] == "CronJob":
        template = obj["spec"]["jobTemplate"]["spec"]["template"]
    else:
        template = obj["spec"]["template"]
    labels: dict[str, str] = template["metadata"]["labels"]
    return labels


def pod_annotations(obj: dict[str, Any]) -> dict[str, str]:
    if obj["kind"] == "CronJob":
        template = obj["spec"]["jobTemplate"]["spec"]["template"]
    else:
        template = obj["spec"]["template"]
    annotations: dict[str, str] = template["metadata"].get("annotations", {})
    return annotations


# --- every case -----------------------------------------------------------------------------


def test_every_case_renders_the_core_objects(renders: dict[str, Render]) -> None:
    for case, rendered in renders.items():
        deployments = rendered.names("Deployment")
        assert {f"{FULLNAME}-api", f"{FULLNAME}-worker"} <= deployments, case
        assert deployments <= {f"{FULLNAME}-api", f"{FULLNAME}-worker", f"{FULLNAME}-pgbouncer"}
        assert {f"{FULLNAME}-api", f"{FULLNAME}-worker"} <= rendered.names("Service"), case
        assert FULLNAME in rendered.names("ConfigMap"), case
        assert rendered.of_kind("CronJob"), case
        for obj in rendered.objects:
            assert obj["metadata"]["namespace"] == "umbrella", (case, obj["kind"])
            labels = obj["metadata"]["labels"]
            assert labels["app.kubernetes.io/instance"] == "umbrella", (case, obj["kind"])
            assert labels["app.kubernetes.io/managed-by"] == "Helm"


def test_every_container_is_probed_bounded_and_unprivileged(renders: dict[str, Render]) -> None:
    for case, rendered in renders.items():
        for obj, spec in rendered.pod_specs():
            where = f"{case}: {obj['kind']}/{obj['metadata']['name']}"
            assert spec["automountServiceAccountToken"] is False, where
            # A Service named `umbrella` would otherwise inject UMBRELLA_PORT=tcp://…
            assert spec["enableServiceLinks"] is False, where
            pod_security = spec["securityContext"]
            assert pod_security["runAsNonRoot"] is True, where
            assert pod_security["runAsUser"] >= 10000, where
            assert pod_security["seccompProfile"]["type"] == "RuntimeDefault", where
            for container in containers(spec):
                where_c = f"{where} container {container['name']}"
                resources = container["resources"]
                for bound in ("requests", "limits"):
                    assert {"cpu", "memory"} <= set(resources[bound]), (where_c, bound)
                security = container["securityContext"]
                assert security["runAsNonRoot"] is True, where_c
                assert security["allowPrivilegeEscalation"] is False, where_c
                assert security["capabilities"]["drop"] == ["ALL"], where_c
                assert security["readOnlyRootFilesystem"] is (case != "dev"), where_c
                assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], where_c  # noqa: S108
                # Kubernetes allows no probe on an init container (bar a native sidecar).
                if obj["kind"] in LONG_RUNNING and container in spec["containers"]:
                    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                        assert probe in container, (where_c, probe)
            tmp = next(volume for volume in spec["volumes"] if volume["name"] == "tmp")
            assert "emptyDir" in tmp, where


def test_probes_hit_the_processes_health_endpoints(default: Render) -> None:
    api = default.get("Deployment", f"{FULLNAME}-api")["spec"]["template"]["spec"]
    (container,) = api["containers"]
    assert container["args"] == ["api"]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["startupProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}

    worker = default.get("Deployment", f"{FULLNAME}-worker")["spec"]["template"]["spec"]
    (container,) = worker["containers"]
    assert container["args"] == ["worker"]
    assert container["ports"] == [{"name": "metrics", "containerPort": 9090, "protocol": "TCP"}]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/livez", "port": "metrics"}


def test_ports_and_drain_timings_reach_the_processes(renders: dict[str, Render]) -> None:
    for case, rendered in renders.items():
        data = rendered.get("ConfigMap", FULLNAME)["data"]
        api = rendered.get("Deployment", f"{FULLNAME}-api")["spec"]["template"]["spec"]
        worker = rendered.get("Deployment", f"{FULLNAME}-worker")["spec"]["template"]["spec"]
        assert int(data["UMBRELLA_PORT"]) == api["containers"][0]["ports"][0]["containerPort"]
        assert (
            int(data["UMBRELLA_WORKER_METRICS_PORT"])
            == worker["containers"][0]["ports"][0]["containerPort"]
        )
        drain = float(data["UMBRELLA_SHUTDOWN_DELAY_SECONDS"]) + float(
            data["UMBRELLA_SHUTDOWN_GRACE_SECONDS"]
        )
        assert api["terminationGracePeriodSeconds"] > drain, case
        if case not in ("dev",):
            # A few seconds of delay, so endpoints drop the pod before it stops listening.
            assert float(data["UMBRELLA_SHUTDOWN_DELAY_SECONDS"]) >= 3, case


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"api": {"terminationGracePeriodSeconds": 30}},
            "must exceed api.shutdown.delaySeconds + api.shutdown.graceSeconds",
        ),
        (
            {"worker": {"shutdownGraceSeconds": 60, "terminationGracePeriodSeconds": 60}},
            "must exceed worker.shutdownGraceSeconds",
        ),
        ({"fullnameOverride": "x" * 40}, "longer than 52 characters"),
    ],
)
def test_values_that_would_deploy_something_broken_do_not_render(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(HelmError, match=re.escape(message)):
        render(values)


# --- the schema ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"api": {"replicaCount": "3"}}, "/api/replicaCount"),
        ({"replicas": 3}, "additional properties 'replicas' not allowed"),
        ({"api": {"replicas": 3}}, "additional properties 'replicas' not allowed"),
        ({"config": {"env": {"UMBRELLA_DATABASE_URL": "postgresql://x"}}}, "UMBRELLA_DATABASE_URL"),
        ({"config": {"env": {"UMBRELLA_PORT": "9999"}}}, "UMBRELLA_PORT"),
        ({"config": {"env": {"DATABASE_URL": "x"}}}, "DATABASE_URL"),
        ({"secrets": {"env": {"UMBRELLA_DATABSE_URL": "x"}}}, "UMBRELLA_DATABSE_URL"),
        ({"image": {"digest": "latest"}}, "/image/digest"),
        ({"containerSecurityContext": {"runAsNonRoot": False}}, "runAsNonRoot"),
        ({"api": {"resources": {"limits": None}}}, "limits"),
        ({"cronJobs": {"jobs": {"Bad_Name": {"schedule": "* * * * *"}}}}, "Bad_Name"),
        ({"metrics": {"prometheusRule": {"errorRate": {"for": "five minutes"}}}}, "/for"),
    ],
)
def test_the_schema_rejects_wrong_values(values: dict[str, Any], complaint: str) -> None:
    with pytest.raises(HelmError, match="values don't meet the specifications") as raised:
        render(values)
    assert complaint in str(raised.value)


def test_every_value_file_passes_the_schema() -> None:
    for path in (CHART_DIR / "values.yaml", VALUES_DEV, VALUES_PRODUCTION):
        render(files=[path])  # helm validates the merged values against values.schema.json


# --- settings: the chart's environment and the Settings model never drift ---------------------


def _environment(rendered: Render, configmap: str, secret: str) -> dict[str, str]:
    env = dict(rendered.get("ConfigMap", configmap)["data"])
    if secret in rendered.names("Secret"):
        data = rendered.get("Secret", secret).get("data") or {}
        env.update({key: base64.b64decode(value).decode() for key, value in data.items()})
    return env


# The standard OpenTelemetry variables the chart sets from `tracing.*` (docs/observability.md).
OTEL_VARIABLES = {
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_PYTHON_AIOHTTP_SERVER_EXCLUDED_URLS",
    "OTEL_RESOURCE_ATTRIBUTES",
}


def test_every_key_the_chart_sets_is_a_real_setting(renders: dict[str, Render]) -> None:
    known = setting_names() | OTEL_VARIABLES
    for case, rendered in renders.items():
        for configmap in rendered.of_kind("ConfigMap"):
            labels = configmap["metadata"]["labels"]
            if (
                "grafana_dashboard" in labels
                or labels["app.kubernetes.io/component"] == "pgbouncer"
            ):
                continue  # files for Grafana and PgBouncer, no environment
            assert set(configmap["data"]) <= known, (case, set(configmap["data"]) - known)
        for secret in rendered.of_kind("Secret"):
            if secret["metadata"]["labels"]["app.kubernetes.io/component"] == "pgbouncer":
                continue
            assert set(secret.get("data") or {}) <= known, case
        for _obj, spec in rendered.pod_specs():
            for container in containers(spec):
                names = {variable["name"] for variable in container.get("env", [])}
                assert names <= known, (case, names - known)


def test_tracing_is_on_only_with_a_collector(renders: dict[str, Render]) -> None:
    from umbrella.observability.tracing import tracing_requested

    off = _environment(renders["production"], FULLNAME, FULLNAME)
    assert not OTEL_VARIABLES & set(off)
    assert not tracing_requested(off)
    on = _environment(renders["tracing-on"], FULLNAME, FULLNAME)
    assert tracing_requested(on)
    assert on["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.observability:4318"
    assert on["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
    assert on["OTEL_TRACES_SAMPLER_ARG"] == "0.1"
    assert on["OTEL_RESOURCE_ATTRIBUTES"] == "deployment.environment=production"
    # The migration hook's copy of the settings carries the same variables.
    assert (
        renders["tracing-on"].get("ConfigMap", f"{FULLNAME}-migrate")["data"]
        == (renders["tracing-on"].get("ConfigMap", FULLNAME)["data"])
    )


def test_credentials_never_land_in_a_configmap(renders: dict[str, Render]) -> None:
    secret = secret_setting_names()
    for case, rendered in renders.items():
        for configmap in rendered.of_kind("ConfigMap"):
            assert not secret & set(configmap.get("data", {})), case


def test_every_credential_setting_has_its_place_in_the_secret() -> None:
    values = load_values(CHART_DIR / "values.yaml")
    assert set(values["secrets"]["env"]) == secret_setting_names()
    schema = yaml.safe_load((CHART_DIR / "values.schema.json").read_text())
    assert set(schema["properties"]["secrets"]["properties"]["env"]["properties"]) == (
        secret_setting_names()
    )
    # ...and config.env may never carry one.
    forbidden = set(
        schema["properties"]["config"]["properties"]["env"]["propertyNames"]["not"]["enum"]
    )
    assert secret_setting_names() <= forbidden


def test_the_dev_values_make_settings_that_load(renders: dict[str, Render]) -> None:
    """What the pods of values-dev.yaml get is complete and valid: nothing exits 78."""
    env = _environment(renders["dev"], FULLNAME, FULLNAME)
    settings = settings_from_env(env)
    assert settings.env.value == "development"
    assert settings.email_backend.value == "console"
    assert settings.sms_backend.value == "console"
    assert settings.s3_endpoint == "http://minio:9000"


def test_the_production_values_make_settings_that_load_with_their_secret(
    renders: dict[str, Render],
) -> None:
    rendered = renders["production"]
    deployment = rendered.get("Deployment", f"{FULLNAME}-api")["spec"]["template"]["spec"]
    env_from = deployment["containers"][0]["envFrom"]
    assert env_from == [
        {"configMapRef": {"name": FULLNAME}},
        {"secretRef": {"name": "umbrella-credentials"}},
    ]
    env = _environment(rendered, FULLNAME, "-")
    # What the operator's Secret holds (see the comment at the top of values-production.yaml).
    env |= {
        "UMBRELLA_DATABASE_URL": "postgresql://umbrella:pw@db.internal:5432/umbrella",
        "UMBRELLA_REDIS_URL": "rediss://:pw@redis.internal:6380/0",
        "UMBRELLA_S3_ACCESS_KEY": "AKIA",
        "UMBRELLA_S3_SECRET_KEY": "s3-secret",
        "UMBRELLA_SECRET_KEY": "k" * 48,
        "UMBRELLA_RESEND_API_KEY": "re_x",
        "UMBRELLA_TWILIO_AUTH_TOKEN": "t",
        "UMBRELLA_ANTHROPIC_API_KEY": "sk-ant-x",
        "UMBRELLA_GOOGLE_CLIENT_SECRET": "g",
        "UMBRELLA_APPLE_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----",
    }
    settings = settings_from_env(env)
    assert settings.env.value == "production"
    assert settings.session_cookie_secure is True
    assert settings.shutdown_delay_seconds >= 3


def test_a_changed_setting_or_credential_rolls_the_pods() -> None:
    def checksums(values: dict[str, Any]) -> list[dict[str, str]]:
        rendered = render(values)
        return [
            {k: v for k, v in pod_annotations(obj).items() if k.startswith("checksum/")}
            for obj in rendered.objects
            if obj["kind"] in ("Deployment", "CronJob")
        ]

    base = checksums({})
    config = checksums({"config": {"env": {"UMBRELLA_LOG_LEVEL": "DEBUG"}}})
    secret = checksums({"secrets": {"env": {"UMBRELLA_SECRET_KEY": "s" * 40}}})
    for before, after in zip(base, config, strict=True):
        assert before["checksum/config"] != after["checksum/config"]
        assert before["checksum/secret"] == after["checksum/secret"]
    for before, after in zip(base, secret, strict=True):
        assert before["checksum/config"] == after["checksum/config"]
        assert before["checksum/secret"] != after["checksum/secret"]


def test_an_existing_secret_replaces_the_charts_own(renders: dict[str, Render]) -> None:
    rendered = renders["existing-secret"]
    assert not rendered.of_kind("Secret")
    for obj, spec in rendered.pod_specs():
        for container in containers(spec):
            assert {"secretRef": {"name": "umbrella-credentials"}} in container["envFrom"], obj
        if obj["kind"] != "Pod":
            assert "checksum/secret" not in pod_annotations(obj)


# --- the migration hook -----------------------------------------------------------------------


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook(default: Render) -> None:
    job = default.get("Job", f"{FULLNAME}-migrate")
    annotations = job["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["containers"][0]["args"] == ["migrate"]
    assert job["spec"]["activeDeadlineSeconds"] < 300  # inside `helm upgrade`'s default timeout
    # Hooks run before the release's own objects exist: the Job brings its own copies.
    env_from = pod["containers"][0]["envFrom"]
    assert env_from == [
        {"configMapRef": {"name": f"{FULLNAME}-migrate"}},
        {"secretRef": {"name": f"{FULLNAME}-migrate"}},
    ]
    assert pod["serviceAccountName"] == f"{FULLNAME}-migrate"
    job_weight = int(annotations["helm.sh/hook-weight"])
    for kind in ("ConfigMap", "Secret", "ServiceAccount"):
        copy = default.get(kind, f"{FULLNAME}-migrate")["metadata"]["annotations"]
        assert copy["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert int(copy["helm.sh/hook-weight"]) < job_weight
    assert (
        default.get("ConfigMap", f"{FULLNAME}-migrate")["data"]
        == (default.get("ConfigMap", FULLNAME)["data"])
    )


def test_the_hook_reads_an_existing_secret_directly(renders: dict[str, Render]) -> None:
    job = renders["existing-secret"].get("Job", f"{FULLNAME}-migrate")
    env_from = job["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert {"secretRef": {"name": "umbrella-credentials"}} in env_from


# --- api exposure: Service, Ingress, HPA, PDB ---------------------------------------------------


def test_services_select_their_pods_on_named_ports(renders: dict[str, Render]) -> None:
    for case, rendered in renders.items():
        for service in rendered.of_kind("Service"):
            selected = [
                (obj, spec)
                for obj, spec in rendered.pod_specs()
                if obj["kind"] == "Deployment"
                and matches(service["spec"]["selector"], pod_labels(obj))
            ]
            assert len(selected) == 1, (case, service["metadata"]["name"])
            port_names = {p["name"] for p in selected[0][1]["containers"][0]["ports"]}
            for port in service["spec"]["ports"]:
                assert port["targetPort"] in port_names, (case, service["metadata"]["name"])


def test_the_ingress_routes_v1_alone_over_tls(default: Render) -> None:
    (ingress,) = default.of_kind("Ingress")
    assert ingress["spec"]["tls"] == [
        {"secretName": f"{FULLNAME}-tls", "hosts": ["app.example.com"]}
    ]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "app.example.com"
    paths = {(p["path"], p["pathType"]) for p in rule["http"]["paths"]}
    # The probes, /health and /metrics are for the cluster (tests/deploy/test_chart_probes.py).
    assert paths == {("/v1", "Prefix")}
    service = default.get("Service", f"{FULLNAME}-api")
    for path in rule["http"]["paths"]:
        backend = path["backend"]["service"]
        assert backend == {
            "name": f"{FULLNAME}-api",
            "port": {"number": service["spec"]["ports"][0]["port"]},
        }


def test_ingress_off_and_extra_hosts(renders: dict[str, Render]) -> None:
    assert not renders["ingress-off"].of_kind("Ingress")
    production = renders["production"].get("Ingress", f"{FULLNAME}-api")
    assert production["spec"]["ingressClassName"] == "nginx"
    assert production["spec"]["tls"][0]["secretName"] == "umbrella-app-tls"
    rendered = render({"api": {"ingress": {"extraHosts": ["api.example.com"]}}})
    ingress = rendered.get("Ingress", f"{FULLNAME}-api")
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == [
        "app.example.com",
        "api.example.com",
    ]
    assert ingress["spec"]["tls"][0]["hosts"] == ["app.example.com", "api.example.com"]


def test_the_hpa_scales_the_api_and_owns_its_replica_count(renders: dict[str, Render]) -> None:
    hpa = renders["default"].get("HorizontalPodAutoscaler", f"{FULLNAME}-api")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": f"{FULLNAME}-api",
    }
    assert [metric["type"] for metric in hpa["spec"]["metrics"]] == ["Resource"]
    # With an HPA the Deployment leaves replicas alone, so an upgrade never resets them.
    assert "replicas" not in renders["default"].get("Deployment", f"{FULLNAME}-api")["spec"]

    assert not renders["hpa-off"].of_kind("HorizontalPodAutoscaler")
    assert renders["hpa-off"].get("Deployment", f"{FULLNAME}-api")["spec"]["replicas"] == 2

    custom = renders["hpa-custom-metric"].get("HorizontalPodAutoscaler", f"{FULLNAME}-api")
    pods_metric = custom["spec"]["metrics"][1]
    assert pods_metric["type"] == "Pods"
    assert pods_metric["pods"]["metric"]["name"] == "umbrella_http_requests_in_flight"


def test_disruption_budgets_cover_the_api_and_the_worker(default: Render) -> None:
    budgets = default.of_kind("PodDisruptionBudget")
    assert {pdb["metadata"]["name"] for pdb in budgets} == {f"{FULLNAME}-api", f"{FULLNAME}-worker"}
    for pdb in budgets:
        selected = [
            obj
            for obj, _ in default.pod_specs()
            if matches(pdb["spec"]["selector"]["matchLabels"], pod_labels(obj))
        ]
        assert [obj["kind"] for obj in selected] == ["Deployment"]


def test_pods_spread_across_zones_and_nodes(default: Render) -> None:
    for name in (f"{FULLNAME}-api", f"{FULLNAME}-worker"):
        deployment = default.get("Deployment", name)
        spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert {c["topologyKey"] for c in spread} == {
            "topology.kubernetes.io/zone",
            "kubernetes.io/hostname",
        }
        for constraint in spread:
            assert matches(constraint["labelSelector"]["matchLabels"], pod_labels(deployment))
            assert matches(
                constraint["labelSelector"]["matchLabels"],
                deployment["spec"]["selector"]["matchLabels"],
            )


# --- identity and network ------------------------------------------------------------------


def test_the_service_account_mounts_no_token(renders: dict[str, Render]) -> None:
    for service_account in renders["default"].of_kind("ServiceAccount"):
        assert service_account["automountServiceAccountToken"] is False
    assert not renders["minimal"].of_kind("ServiceAccount")
    for _obj, spec in renders["minimal"].pod_specs():
        assert spec["serviceAccountName"] == "platform-default"


def test_network_policies_deny_by_default_and_allow_what_umbrella_needs(default: Render) -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in default.of_kind("NetworkPolicy")}
    everything = policies[FULLNAME]
    assert everything["policyTypes"] == ["Ingress", "Egress"]
    assert everything["ingress"] == []
    for obj, _ in default.pod_specs():
        assert matches(everything["podSelector"]["matchLabels"], pod_labels(obj)), obj["kind"]
    egress_ports = {
        (port["port"], port["protocol"]) for rule in everything["egress"] for port in rule["ports"]
    }
    assert {(53, "UDP"), (53, "TCP"), (5432, "TCP"), (6379, "TCP"), (443, "TCP")} <= egress_ports

    api = policies[f"{FULLNAME}-api"]
    assert api["policyTypes"] == ["Ingress"]
    (rule,) = api["ingress"]
    assert rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
        "podSelector": {
            "matchLabels": {
                "app.kubernetes.io/name": "ingress-nginx",
                "app.kubernetes.io/component": "controller",
            }
        },
    } in rule["from"]
    worker = policies[f"{FULLNAME}-worker"]
    assert worker["ingress"][0]["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    # The helm test pod may reach the api (it checks /readyz).
    test_pod = default.get("Pod", f"{FULLNAME}-test-doctor")
    assert any(
        "podSelector" in peer and matches(peer["podSelector"]["matchLabels"], pod_labels(test_pod))
        for peer in rule["from"]
    )


def test_production_pins_the_image_by_digest(renders: dict[str, Render]) -> None:
    for _obj, spec in renders["production"].pod_specs():
        image = spec["containers"][0]["image"]
        assert re.fullmatch(r"registry\.example\.com/umbrella/umbrella@sha256:[0-9a-f]{64}", image)
    for _obj, spec in renders["default"].pod_specs():
        assert (
            spec["containers"][0]["image"]
            == f"umbrella:{yaml.safe_load((CHART_DIR / 'Chart.yaml').read_text())['appVersion']}"
        )


def test_a_release_named_otherwise_prefixes_every_object() -> None:
    rendered = render({}, release="staging")
    assert rendered.names("Deployment") == {"staging-umbrella-api", "staging-umbrella-worker"}
    hpa = rendered.get("HorizontalPodAutoscaler", "staging-umbrella-api")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "staging-umbrella-api"


def test_the_helm_test_runs_the_doctor_against_the_api(default: Render) -> None:
    pod = default.get("Pod", f"{FULLNAME}-test-doctor")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["containers"][0]["args"] == [
        "admin",
        "doctor",
        "--api-url",
        f"http://{FULLNAME}-api:80",
    ]


def test_notes_warn_about_missing_required_settings(renders: dict[str, Render]) -> None:
    assert (
        "WARNING: required settings are not set: UMBRELLA_DATABASE_URL" in renders["default"].notes
    )
    assert "WARNING" not in renders["dev"].notes
    assert "WARNING" not in renders["production"].notes


def test_merge_helper_behaves_like_helm() -> None:
    merged = merge({"a": {"b": 1, "c": [1]}, "d": 1}, {"a": {"c": [2]}, "e": 2})
    assert merged == {"a": {"b": 1, "c": [2]}, "d": 1, "e": 2}
