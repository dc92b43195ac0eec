"""The chart's side of the database: the migration hook's bounds and the PgBouncer option."""

from __future__ import annotations

import base64
import configparser
import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.deploy.chart import (
    PGBOUNCER,
    SAMPLE_CREDENTIALS,
    HelmError,
    Render,
    merge,
    render,
    settings_from_env,
)
from tests.deploy.netpol import Cluster, Endpoint, pods_of

FULLNAME = "umbrella"
MIGRATE_BOUNDS = {
    "UMBRELLA_MIGRATE_STATEMENT_TIMEOUT_MS",
    "UMBRELLA_MIGRATE_LOCK_TIMEOUT_MS",
    "UMBRELLA_MIGRATE_LOCK_WAIT_SECONDS",
}


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """A container's `env`: literal values as text, references as their valueFrom."""
    return {
        variable["name"]: variable.get("value", variable.get("valueFrom"))
        for variable in container.get("env", [])
    }


def migrate_container(rendered: Render) -> dict[str, Any]:
    job = rendered.get("Job", f"{FULLNAME}-migrate")
    container: dict[str, Any] = job["spec"]["template"]["spec"]["containers"][0]
    return container


# --- the migration hook ---------------------------------------------------------------------


def test_the_hook_gives_up_before_its_deadline(renders: dict[str, Render]) -> None:
    """The longest lock wait plus one whole statement end 30 s before Kubernetes kills it."""
    for case, rendered in renders.items():
        if f"{FULLNAME}-migrate" not in rendered.names("Job"):
            continue
        job = rendered.get("Job", f"{FULLNAME}-migrate")
        env = env_of(migrate_container(rendered))
        assert set(env) >= MIGRATE_BOUNDS, case
        deadline = job["spec"]["activeDeadlineSeconds"]
        statement = int(env["UMBRELLA_MIGRATE_STATEMENT_TIMEOUT_MS"]) / 1000
        lock_wait = float(env["UMBRELLA_MIGRATE_LOCK_WAIT_SECONDS"])
        assert statement > 0, case  # 0 would mean no bound at all
        assert lock_wait + statement + 30 <= deadline, case
    default = env_of(migrate_container(renders["default"]))
    assert default["UMBRELLA_MIGRATE_STATEMENT_TIMEOUT_MS"] == str((280 - 60 - 30) * 1000)
    assert default["UMBRELLA_MIGRATE_LOCK_TIMEOUT_MS"] == "5000"
    assert default["UMBRELLA_MIGRATE_LOCK_WAIT_SECONDS"] == "60"


def test_the_bounds_follow_the_values_and_load_as_settings() -> None:
    rendered = render(
        {
            "migrations": {
                "activeDeadlineSeconds": 900,
                "lockTimeoutMs": 2000,
                "lockWaitSeconds": 120,
            }
        }
    )
    env = env_of(migrate_container(rendered))
    assert env["UMBRELLA_MIGRATE_STATEMENT_TIMEOUT_MS"] == "750000"
    settings = settings_from_env(SAMPLE_CREDENTIALS | env)
    assert settings.migrate_statement_timeout_ms == 750_000
    assert settings.migrate_lock_timeout_ms == 2000
    assert settings.migrate_lock_wait_seconds == 120
    # Only the hook is bounded so: the api and the worker keep their own statement timeout.
    for name in (f"{FULLNAME}-api", f"{FULLNAME}-worker"):
        container = rendered.get("Deployment", name)["spec"]["template"]["spec"]["containers"][0]
        assert not MIGRATE_BOUNDS & set(env_of(container)), name


def test_a_deadline_with_no_room_for_the_migration_does_not_render() -> None:
    with pytest.raises(
        HelmError, match=re.escape("must exceed migrations.lockWaitSeconds (60) + 30")
    ):
        render({"migrations": {"activeDeadlineSeconds": 90}})
    with pytest.raises(HelmError, match="activeDeadlineSeconds"):
        render({"migrations": {"activeDeadlineSeconds": 30, "lockWaitSeconds": 0}})
    for name in MIGRATE_BOUNDS:
        with pytest.raises(HelmError, match=name):
            render({"config": {"env": {name: "1"}}})


# --- PgBouncer --------------------------------------------------------------------------------


def secret_env(rendered: Render) -> dict[str, str]:
    data = rendered.get("Secret", FULLNAME)["data"]
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


def settings_of(rendered: Render, container: dict[str, Any]) -> Any:
    """The settings a container of our image loads: ConfigMap, Secret, then its own env."""
    env = {
        **rendered.get("ConfigMap", FULLNAME)["data"],
        **SAMPLE_CREDENTIALS,
        **secret_env(rendered),
    }
    env |= {name: value for name, value in env_of(container).items() if isinstance(value, str)}
    return settings_from_env(env)


def test_only_the_api_goes_through_pgbouncer(renders: dict[str, Render]) -> None:
    rendered = renders["pgbouncer"]
    service = rendered.get("Service", f"{FULLNAME}-pgbouncer")
    (port,) = service["spec"]["ports"]
    for obj, spec in rendered.pod_specs():
        container = spec["containers"][0]
        if obj["metadata"]["name"] == f"{FULLNAME}-pgbouncer":
            continue
        settings = settings_of(rendered, container)
        # Every pod has both addresses (the Python side picks the direct one unless it is
        # the api's pool); the statement cache is off for the api alone.
        assert urlsplit(settings.database_url).hostname == f"{FULLNAME}-pgbouncer"
        assert urlsplit(settings.database_url).port == port["port"]
        assert urlsplit(settings.direct_database_url).hostname == "db.internal"
        is_api = container["args"] == ["api"]
        assert (settings.db_statement_cache_size == 0) is is_api, obj["metadata"]["name"]
    # Without PgBouncer nothing of it is rendered and the api keeps its statement cache.
    default = renders["default"]
    assert not {"Deployment", "Service", "ConfigMap"} & {
        obj["kind"] for obj in default.objects if "pgbouncer" in obj["metadata"]["name"]
    }
    api = default.get("Deployment", f"{FULLNAME}-api")["spec"]["template"]["spec"]
    assert "UMBRELLA_DB_STATEMENT_CACHE_SIZE" not in env_of(api["containers"][0])


def test_pgbouncer_pools_transactions_and_keeps_the_apis_statement_timeout(
    renders: dict[str, Render],
) -> None:
    rendered = renders["pgbouncer"]
    ini = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=None)
    ini.read_string(rendered.get("ConfigMap", f"{FULLNAME}-pgbouncer")["data"]["pgbouncer.ini"])
    pgbouncer = ini["pgbouncer"]
    assert pgbouncer["pool_mode"] == "transaction"
    assert pgbouncer["ignore_startup_parameters"] == "extra_float_digits,statement_timeout"
    assert pgbouncer["listen_port"] == "6432"
    assert pgbouncer["auth_type"] == "scram-sha-256"
    assert pgbouncer["auth_file"] == "/etc/pgbouncer/auth/userlist.txt"
    entry = ini["databases"]["umbrella"]
    assert "host=db.internal port=5432 dbname=umbrella" in entry
    # The api's UMBRELLA_DB_STATEMENT_TIMEOUT_MS (15000 in this case), on every server connection.
    (connect_query,) = re.findall(r"connect_query='([^']*)'", entry)
    assert "SET statement_timeout = 15000" in connect_query.split("; ")
    # The auth file is mounted where the configuration says.
    deployment = rendered.get("Deployment", f"{FULLNAME}-pgbouncer")["spec"]["template"]["spec"]
    (container,) = deployment["containers"]
    assert container["command"] == ["pgbouncer", "/etc/pgbouncer/pgbouncer.ini"]
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    assert mounts["/etc/pgbouncer/auth"] == "auth"
    (auth,) = [volume for volume in deployment["volumes"] if volume["name"] == "auth"]
    assert auth["secret"]["secretName"] == f"{FULLNAME}-pgbouncer"
    userlist = rendered.get("Secret", f"{FULLNAME}-pgbouncer")["data"]["userlist.txt"]
    assert base64.b64decode(userlist).decode() == '"umbrella" "pw"\n'


def test_pgbouncer_has_the_availability_of_the_api(renders: dict[str, Render]) -> None:
    rendered = renders["pgbouncer"]
    deployment = rendered.get("Deployment", f"{FULLNAME}-pgbouncer")
    assert deployment["spec"]["replicas"] >= 2
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    pdb = rendered.get("PodDisruptionBudget", f"{FULLNAME}-pgbouncer")["spec"]
    assert all(labels[key] == value for key, value in pdb["selector"]["matchLabels"].items())
    spread = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in spread} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }
    # Stopping is PgBouncer's safe shutdown (SIGINT), after the Service has dropped the pod,
    # well inside the grace period: its SIGTERM would wait for the api's pooled clients.
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert stop[-1].endswith("kill -INT 1"), stop
    assert int(stop[-1].split("sleep ")[1].split(";")[0]) < pod["terminationGracePeriodSeconds"]


def test_an_operators_userlist_secret_replaces_the_charts() -> None:
    rendered = render(
        merge(PGBOUNCER, {"pgbouncer": {"auth": {"existingSecret": "pgbouncer-users"}}})
    )
    assert f"{FULLNAME}-pgbouncer" not in rendered.names("Secret")
    deployment = rendered.get("Deployment", f"{FULLNAME}-pgbouncer")["spec"]["template"]["spec"]
    (auth,) = [volume for volume in deployment["volumes"] if volume["name"] == "auth"]
    assert auth["secret"]["secretName"] == "pgbouncer-users"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"pgbouncer": {"upstream": {"host": ""}}}, "pgbouncer.upstream.host is required"),
        ({"pgbouncer": {"auth": {"userlist": ""}}}, "pgbouncer.auth.userlist or"),
        (
            {
                "secrets": {
                    "env": {"UMBRELLA_DATABASE_URL": "postgresql://u:p@db.internal/umbrella"}
                }
            },
            "must point at PgBouncer (postgresql://<user>:<password>@umbrella-pgbouncer:6432/umbrella)",
        ),
        (
            {"secrets": {"env": {"UMBRELLA_DIRECT_DATABASE_URL": ""}}},
            "UMBRELLA_DIRECT_DATABASE_URL (Postgres' own address) is required",
        ),
    ],
)
def test_pgbouncer_values_that_could_not_work_do_not_render(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(HelmError, match=re.escape(message)):
        render(merge(PGBOUNCER, values))


def test_only_the_api_reaches_pgbouncer_and_pgbouncer_only_postgres(
    renders: dict[str, Render],
) -> None:
    rendered = renders["pgbouncer"]
    pods = {pod.name: pod for pod in pods_of(rendered)}
    cluster = Cluster(rendered.of_kind("NetworkPolicy"))
    service = rendered.get("Service", f"{FULLNAME}-pgbouncer")
    everyone = list(pods.values())
    pgbouncer = pods[f"Deployment/{FULLNAME}-pgbouncer"]
    database = Endpoint("db.internal", "10.20.0.5")
    for name, pod in pods.items():
        if pod is pgbouncer:
            continue
        reaches = cluster.can_reach_service(pod, service, "postgres", everyone)
        assert reaches is (name == f"Deployment/{FULLNAME}-api"), name
        assert cluster.can_connect(pod, database, 5432), name  # the direct address
    stranger = Endpoint("Pod/stranger", "10.244.1.1", "umbrella", {"app": "stranger"})
    assert not cluster.can_reach_service(stranger, service, "postgres", everyone)
    assert cluster.can_connect(pgbouncer, database, 5432)
    assert not cluster.can_connect(pgbouncer, Endpoint("elsewhere", "10.99.0.5"), 5432)
    assert not cluster.can_connect(pgbouncer, Endpoint("api.resend.com", "104.18.0.1"), 443)
    assert not cluster.can_connect(pgbouncer, pods[f"Deployment/{FULLNAME}-worker"], 9090)
