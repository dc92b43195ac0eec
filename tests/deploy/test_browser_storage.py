"""Browsers upload (presigned POST) and download (presigned GET) straight from the bucket.

That is cross-origin from the web app, so the bucket must answer CORS for the web app's
origins, with ETag exposed. The dev MinIO does; the chart README gives operators the rule.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from tests.deploy.chart import CHART_DIR, VALUES_DEV, load_values
from tests.deploy.test_k8s_manifests import objects

README = CHART_DIR / "README.md"


def dev_web_origins() -> set[str]:
    origins: str = load_values(VALUES_DEV)["config"]["env"]["UMBRELLA_CORS_ORIGINS"]
    return {origin.strip() for origin in origins.split(",") if origin.strip()}


def test_the_dev_minio_answers_cors_for_the_dev_web_app() -> None:
    (minio,) = [
        o for o in objects() if (o["kind"], o["metadata"]["name"]) == ("StatefulSet", "minio")
    ]
    (container,) = minio["spec"]["template"]["spec"]["containers"]
    env = {variable["name"]: variable.get("value") for variable in container.get("env", [])}
    # MinIO's community server has no per-bucket CORS (PutBucketCors is NotImplemented): its
    # server-wide origins apply to every bucket, allow GET, HEAD, POST and PUT, expose ETag.
    assert container["image"].startswith("quay.io/minio/minio:RELEASE.")
    allowed = {origin.strip() for origin in env["MINIO_API_CORS_ALLOW_ORIGIN"].split(",")}
    assert allowed == dev_web_origins()
    assert "*" not in allowed


def _fenced(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def test_the_chart_readme_gives_the_bucket_rule_for_s3() -> None:
    (rule_json,) = [block for block in _fenced("json") if "CORSRules" in block]
    (rule,) = json.loads(rule_json)["CORSRules"]
    assert {"GET", "POST"} <= set(rule["AllowedMethods"])
    assert "ETag" in rule["ExposeHeaders"]
    assert rule["AllowedOrigins"]
    assert "*" not in rule["AllowedOrigins"]


def test_the_chart_readme_gives_the_same_rule_for_minio() -> None:
    (rule_xml,) = [block for block in _fenced("xml") if "CORSConfiguration" in block]
    (rule,) = ET.fromstring(rule_xml).findall("CORSRule")  # noqa: S314 (our own README)
    assert {"GET", "POST"} <= {m.text for m in rule.findall("AllowedMethod")}
    assert "ETag" in {h.text for h in rule.findall("ExposeHeader")}
    assert "MINIO_API_CORS_ALLOW_ORIGIN" in README.read_text()
