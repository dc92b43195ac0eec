"""The probes and /health stay inside the cluster; the health token reaches the api.

The Ingress routes `/v1` alone. That is safe only while every route the web app calls lives
under it, so the api's own router is checked here: anything outside `/v1` must be one of
the cluster-only paths.
"""

from __future__ import annotations

import base64
import re

import pytest

from tests.deploy.chart import SAMPLE_CREDENTIALS, HelmError, Render, render, settings_from_env
from umbrella.config import Environment, load_settings

FULLNAME = "umbrella"
CLUSTER_ONLY = {"/livez", "/readyz", "/health", "/metrics"}


def _routes() -> set[str]:
    from umbrella.app import create_app

    settings = load_settings(
        env=Environment.TEST,
        database_url="postgresql://nobody@127.0.0.1:1/unused",  # the app is built, not run
        redis_url="redis://127.0.0.1:1",
        s3_endpoint="http://127.0.0.1:1",
        s3_access_key="unused",
        s3_secret_key="unused-unused",
        s3_bucket="unused",
        secret_key="k" * 64,
        email_backend="console",
        sms_backend="console",
    )
    return {
        route.resource.canonical
        for route in create_app(settings).router.routes()
        if route.resource is not None
    }


def test_every_public_route_is_under_the_one_path_the_ingress_routes(default: Render) -> None:
    (ingress,) = default.of_kind("Ingress")
    (rule,) = ingress["spec"]["rules"]
    assert [(p["path"], p["pathType"]) for p in rule["http"]["paths"]] == [("/v1", "Prefix")]
    routes = _routes()
    assert "/v1/openapi.json" in routes  # the API's document is public, and routed
    outside = {route for route in routes if not re.match(r"^/v1(/|$)", route)}
    assert outside == CLUSTER_ONLY


def test_the_health_token_is_a_credential_of_the_secret() -> None:
    token = "h" * 40
    rendered = render({"secrets": {"env": {"UMBRELLA_HEALTH_TOKEN": token}}})
    data = rendered.get("Secret", FULLNAME)["data"]
    assert base64.b64decode(data["UMBRELLA_HEALTH_TOKEN"]).decode() == token
    for configmap in rendered.of_kind("ConfigMap"):
        assert token not in str(configmap.get("data")), configmap["metadata"]["name"]
    # What the api reads from that Secret carries it.
    env = dict(rendered.get("ConfigMap", FULLNAME)["data"])
    env |= {key: base64.b64decode(value).decode() for key, value in data.items()}
    env |= SAMPLE_CREDENTIALS
    settings = settings_from_env(env)
    assert settings.health_token is not None
    assert settings.health_token.get_secret_value() == token
    # Left empty, it is left out: only in-cluster callers see /health's details.
    assert "UMBRELLA_HEALTH_TOKEN" not in (render({}).get("Secret", FULLNAME).get("data") or {})


def test_with_an_existing_secret_the_api_reads_the_token_from_it(
    renders: dict[str, Render],
) -> None:
    """The operator's Secret holds UMBRELLA_HEALTH_TOKEN as a key: envFrom passes it on."""
    api = renders["existing-secret"].get("Deployment", f"{FULLNAME}-api")
    (container,) = api["spec"]["template"]["spec"]["containers"]
    assert {"secretRef": {"name": "umbrella-credentials"}} in container["envFrom"]


def test_the_token_never_goes_in_the_configmap() -> None:
    with pytest.raises(HelmError, match="UMBRELLA_HEALTH_TOKEN"):
        render({"config": {"env": {"UMBRELLA_HEALTH_TOKEN": "x" * 40}}})
