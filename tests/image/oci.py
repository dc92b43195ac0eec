"""The Dockerfile's images built, unpacked and run without a Docker engine.

buildah builds the Dockerfile (vfs storage, chroot isolation: no daemon, no overlay
mounts), `buildah push` writes the image as an OCI layout, umoci unpacks it into a
runtime bundle, and runc runs it with the restrictions of the chart's pods. All four are
Debian packages (scripts/install-test-tools.sh); every step needs root, as on CI.

The Dockerfile's base, `python:3.11-slim-bookworm`, comes from a registry this machine
cannot reach. A stand-in with the same name is made once per machine from Debian's own
packages (debootstrap: bookworm with python3, venv and pip, /usr/local/bin/python like the
official image) and kept in buildah's storage; a real image of that name is used as is.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import secrets
import shutil
import subprocess
import tarfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import REPO_ROOT

BASE_IMAGE = "docker.io/library/python:3.11-slim-bookworm"
STAND_IN_LABEL = "org.umbrella.test.stand-in"
DEBIAN_MIRROR = os.environ.get("UMBRELLA_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# The chart's pods: UID/GID 10001, read-only root, a 256 MiB tmpfs /tmp, no capabilities.
POD_USER = (10001, 10001)
TMP_SIZE = "256m"
CAPABILITY_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


def run(*command: str, timeout: float = 900) -> str:
    """Run a tool to completion; its stderr is in the failure."""
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False
    )
    if completed.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {completed.returncode}:\n"
            f"{completed.stdout[-3000:]}\n{completed.stderr[-5000:]}"
        )
    return completed.stdout


def buildah(*args: str, timeout: float = 900) -> str:
    return run("buildah", "--storage-driver", "vfs", *args, timeout=timeout)


def image_config(name: str) -> dict[str, Any]:
    """The OCI image config of a local image (`config` holds User, Env, Labels …)."""
    inspected: dict[str, Any] = json.loads(buildah("inspect", "--type", "image", name))
    config: dict[str, Any] = inspected["OCIv1"]
    return config


def has_image(name: str) -> bool:
    found = subprocess.run(
        ["buildah", "--storage-driver", "vfs", "inspect", "--type", "image", name],
        capture_output=True,
        check=False,
    )
    return found.returncode == 0


def ensure_base_image(work: Path) -> bool:
    """Make the stand-in base unless an image of its name exists; True if it is a stand-in."""
    if has_image(BASE_IMAGE):
        labels = image_config(BASE_IMAGE)["config"].get("Labels") or {}
        return STAND_IN_LABEL in labels
    rootfs = work / "rootfs"
    run(
        "debootstrap",
        "--variant=minbase",
        "--include=python3,python3-venv,python3-pip,ca-certificates",
        "bookworm",
        str(rootfs),
        DEBIAN_MIRROR,
        timeout=1200,
    )
    # Where the official image has them: `python` and `pip` on /usr/local/bin.
    (rootfs / "usr/local/bin/python").symlink_to("/usr/bin/python3")
    (rootfs / "usr/local/bin/pip").symlink_to("/usr/bin/pip3")
    for trimmed in ("var/lib/apt/lists", "var/cache/apt", "usr/share/doc", "usr/share/man"):
        shutil.rmtree(rootfs / trimmed, ignore_errors=True)
    archive = work / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(rootfs, arcname=".")
    container = buildah("from", "scratch").strip()
    try:
        buildah("add", "--quiet", container, str(archive), "/")
        buildah(
            "config",
            "--env", "PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--env", "LANG=C.UTF-8",
            "--cmd", "python3",
            "--label", f"{STAND_IN_LABEL}=debootstrap bookworm python3 python3-venv python3-pip",
            container,
        )  # fmt: skip
        buildah("commit", "--quiet", container, BASE_IMAGE)
    finally:
        buildah("rm", container)
    shutil.rmtree(rootfs, ignore_errors=True)
    archive.unlink()
    return True


def pip_trust_mounts(work: Path) -> list[str]:
    """Build volumes that make pip trust this machine's CA bundle (a TLS-inspecting proxy).

    Only RUN steps see them; nothing of them lands in a layer but their mount points.
    """
    bundle = Path(os.environ.get("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt"))
    if not bundle.is_file():
        return []
    pip_conf = work / "pip.conf"
    pip_conf.write_text("[global]\ncert = /etc/ssl/host-ca-bundle.pem\n")
    return [
        "--volume", f"{bundle}:/etc/ssl/host-ca-bundle.pem:ro",
        "--volume", f"{pip_conf}:/etc/pip.conf:ro",
    ]  # fmt: skip


def build(*, target: str, tag: str, build_args: dict[str, str], work: Path) -> None:
    """`docker build --target TARGET -t TAG .` of this checkout."""
    args = [f"--build-arg={key}={value}" for key, value in build_args.items()]
    buildah(
        "build",
        "--quiet",
        "--isolation", "chroot",
        "--pull=never",
        "--target", target,
        "--tag", tag,
        *args,
        *pip_trust_mounts(work),
        "--file", str(REPO_ROOT / "Dockerfile"),
        str(REPO_ROOT),
        timeout=1800,
    )  # fmt: skip


@dataclass
class Unpacked:
    """An image as an OCI layout (what a registry stores) and as a runc bundle."""

    name: str
    layout: Path
    bundle: Path

    @property
    def rootfs(self) -> Path:
        return self.bundle / "rootfs"

    def base_config(self) -> dict[str, Any]:
        config: dict[str, Any] = json.loads((self.bundle / "config.json").read_text())
        return config

    def manifest(self) -> dict[str, Any]:
        index = json.loads((self.layout / "index.json").read_text())
        digest = index["manifests"][0]["digest"].split(":", 1)[1]
        manifest: dict[str, Any] = json.loads((self.layout / "blobs/sha256" / digest).read_text())
        return manifest

    def compressed_bytes(self) -> list[int]:
        """Each layer's size as pushed to a registry (gzip), base layers first."""
        return [layer["size"] for layer in self.manifest()["layers"]]

    def uncompressed_bytes(self, under: str = "") -> int:
        total = 0
        for directory, _, files in os.walk(self.rootfs / under):
            for name in files:
                total += os.lstat(os.path.join(directory, name)).st_size
        return total


def unpack(name: str, work: Path) -> Unpacked:
    work.mkdir(parents=True, exist_ok=True)
    layout = work / "oci"
    buildah("push", "--quiet", name, f"oci:{layout}:image")
    bundle = work / "bundle"
    run("umoci", "unpack", "--image", f"{layout}:image", str(bundle))
    return Unpacked(name=name, layout=layout, bundle=bundle)


def remove_images(*names: str) -> None:
    """Drop the images and the build cache they leave (vfs stores every layer in full)."""
    for name in names:
        if has_image(name):
            buildah("rmi", "--force", name)
    buildah("rmi", "--prune")


@dataclass
class Container:
    """One process of an unpacked image, run by runc as a restricted pod runs it.

    `args` and `command` mean what they mean in a pod: `args` replaces the image's CMD,
    `command` (when given) its ENTRYPOINT.
    """

    image: Unpacked
    args: list[str]
    env: dict[str, str]
    read_only: bool = True
    work: Path | None = None
    command: list[str] | None = None

    def __post_init__(self) -> None:
        self.id = f"umbrella-test-{secrets.token_hex(6)}"

    def spec(self) -> dict[str, Any]:
        spec = copy.deepcopy(self.image.base_config())
        process = spec["process"]
        config = image_config(self.image.name)["config"]
        process["args"] = (self.command or config.get("Entrypoint") or []) + self.args
        process["terminal"] = False
        process["user"] = {"uid": POD_USER[0], "gid": POD_USER[1]}
        process["noNewPrivileges"] = True
        process["capabilities"] = {name: [] for name in CAPABILITY_SETS}
        # This sandbox may not raise limits (no CAP_SYS_RESOURCE): keep the inherited ones.
        process.pop("rlimits", None)
        # The image's environment (umoci puts the passwd entry's HOME in place of the
        # image's), then the pod's.
        image_env = dict(variable.split("=", 1) for variable in config["Env"])
        process["env"] = [f"{key}={value}" for key, value in (image_env | self.env).items()]
        spec["root"] = {"path": str(self.image.rootfs), "readonly": self.read_only}
        spec["mounts"].append(
            {
                "destination": "/tmp",  # noqa: S108 (the container's own tmpfs)
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "nodev", "mode=1777", f"size={TMP_SIZE}"],
            }
        )
        # The host's network: the test's Postgres, Redis, S3 and fakes listen on loopback.
        spec["linux"]["namespaces"] = [
            namespace for namespace in spec["linux"]["namespaces"] if namespace["type"] != "network"
        ]
        return spec

    async def start(self) -> asyncio.subprocess.Process:
        assert self.work is not None, "Container.work: where its bundle is written"
        bundle = self.work / self.id
        bundle.mkdir(parents=True)
        (bundle / "config.json").write_text(json.dumps(self.spec()))
        return await asyncio.create_subprocess_exec(
            "runc", "run", "--bundle", str(bundle), self.id,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Running]:
        """Start it, read its output as it comes (a full pipe would block it), and kill and
        delete it on the way out if it is still there."""
        process = await self.start()
        output = asyncio.create_task(process.communicate())
        try:
            yield Running(process, output)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
            await output
            await self.remove()

    async def run(self, timeout: float = 120) -> tuple[int, str, str]:
        """Run to completion: (exit code, stdout, stderr)."""
        process = await self.start()
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
        finally:
            await self.remove()
        assert process.returncode is not None
        return process.returncode, stdout.decode(), stderr.decode()

    async def remove(self) -> None:
        deleted = await asyncio.create_subprocess_exec(
            "runc", "delete", "--force", self.id,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        await deleted.wait()


@dataclass
class Running:
    """A started container: its runc process and the task collecting its output."""

    process: asyncio.subprocess.Process
    output: asyncio.Task[tuple[bytes, bytes]]

    async def exited(self, timeout: float = 30) -> tuple[int, str]:
        """Wait for the end: (exit code, stdout and stderr)."""
        stdout, stderr = await asyncio.wait_for(asyncio.shield(self.output), timeout)
        assert self.process.returncode is not None
        return self.process.returncode, (stdout + stderr).decode()
