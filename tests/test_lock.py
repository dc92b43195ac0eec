"""The lock files of requirements/: what every install (laptop, CI, image) takes, hashed."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import REPO_ROOT

REQUIREMENTS = REPO_ROOT / "requirements"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def locked(name: str) -> dict[str, tuple[Version, str | None]]:
    """name → (version, marker) of one lock file; every pin must carry hashes."""
    pins: dict[str, tuple[Version, str | None]] = {}
    lines = (REQUIREMENTS / name).read_text().splitlines()
    for number, line in enumerate(lines):
        match = PIN.match(line)
        if match is None:
            continue
        following = lines[number + 1] if number + 1 < len(lines) else ""
        assert following.strip().startswith("--hash=sha256:"), f"{name}: {line} has no hash"
        pins[canonicalize_name(match[1])] = (Version(match[2]), match[3])
    assert pins, f"{name} pins nothing"
    return pins


def project() -> dict[str, list[Requirement]]:
    """pyproject.toml's requirements: the runtime ones and each extra's."""
    table = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    groups = {"runtime": [Requirement(text) for text in table["dependencies"]]}
    for extra, texts in table["optional-dependencies"].items():
        groups[extra] = [Requirement(text) for text in texts]
    return groups


@pytest.mark.parametrize(
    ("lock", "groups"),
    [
        ("runtime.txt", ["runtime"]),
        ("local.txt", ["runtime", "local"]),
        ("dev.txt", ["runtime", "local", "dev"]),
    ],
)
def test_each_lock_holds_a_version_pyproject_allows(lock: str, groups: list[str]) -> None:
    pins = locked(lock)
    for group in groups:
        for requirement in project()[group]:
            name = canonicalize_name(requirement.name)
            assert name in pins, f"{lock} lacks {requirement}: run `make lock`"
            version, _ = pins[name]
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{lock} has {name}=={version}, pyproject.toml asks {requirement}: `make lock`"
            )


def test_runtime_ranges_are_closed_at_the_next_major() -> None:
    # A range open at the top silently took anthropic and redis across majors.
    for requirement in project()["runtime"]:
        assert any(spec.operator == "<" for spec in requirement.specifier), (
            f"{requirement} has no upper bound"
        )


def test_the_locks_agree_with_each_other() -> None:
    dev = locked("dev.txt")
    for lock in ("runtime.txt", "local.txt", "build.txt"):
        for name, (version, _) in locked(lock).items():
            if name in dev:
                assert dev[name][0] == version, f"{lock} {name}=={version}, dev.txt {dev[name][0]}"
    assert set(locked("runtime.txt")) <= set(locked("local.txt")) <= set(dev)


def test_this_environment_is_the_dev_lock() -> None:
    # `make test` installs requirements/dev.txt: a stale .venv would test other versions.
    for name, (version, marker) in locked("dev.txt").items():
        applies = Requirement(f"{name}; {marker}").marker if marker else None
        if applies is not None and not applies.evaluate():
            continue
        assert Version(metadata.version(name)) == version, f"{name}: run `make test` to sync"
