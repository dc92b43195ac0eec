"""The runtime and dev images of this checkout, built once for the module (tests/image/oci.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.image import oci

RUNTIME_TAG = "localhost/umbrella-test:runtime"
DEV_TAG = "localhost/umbrella-test:dev"


def project_version() -> str:
    version: str = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    return version


def revision() -> str:
    found = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return found.stdout.strip() if found.returncode == 0 else "unknown"


@dataclass
class Built:
    runtime: oci.Unpacked
    dev: oci.Unpacked
    base_is_stand_in: bool
    build_args: dict[str, str]
    seconds: dict[str, float]


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    if os.geteuid() != 0:
        pytest.fail("the image test runs buildah (vfs) and runc: it needs root, as CI has")
    for tool in ("buildah", "umoci", "runc", "debootstrap"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: `make tools` installs it")
    work = tmp_path_factory.mktemp("image")
    seconds: dict[str, float] = {}
    started = datetime.now(UTC)
    stand_in = oci.ensure_base_image(work)
    seconds["base"] = (datetime.now(UTC) - started).total_seconds()
    build_args = {
        "VERSION": project_version(),
        "REVISION": revision(),
        "CREATED": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    try:
        for target, tag in (("runtime", RUNTIME_TAG), ("dev", DEV_TAG)):
            began = datetime.now(UTC)
            oci.build(target=target, tag=tag, build_args=build_args, work=work)
            seconds[target] = (datetime.now(UTC) - began).total_seconds()
        runtime = oci.unpack(RUNTIME_TAG, work / "runtime")
        dev = oci.unpack(DEV_TAG, work / "dev")
        yield Built(runtime, dev, stand_in, build_args, seconds)
    finally:
        oci.remove_images(RUNTIME_TAG, DEV_TAG)


@pytest.fixture
def containers(tmp_path: Path) -> Path:
    """Where this test's container bundles (their config.json) are written."""
    return tmp_path
