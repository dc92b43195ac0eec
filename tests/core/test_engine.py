"""The Piccolo engine as every process builds it: at import, before any setting is known."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT, clean_env
from umbrella.devstack import free_port


def test_importing_the_engine_connects_nowhere_and_prints_nothing() -> None:
    # Piccolo checks the server's version when the engine object is built. In a container
    # nothing listens on localhost:5432, so every command printed "Unable to fetch server
    # version". Point libpq's defaults at a closed port: the import must not even try.
    closed_port = free_port()
    completed = subprocess.run(
        [sys.executable, "-c", "import umbrella.piccolo_conf, umbrella.cli"],
        env=clean_env(PGHOST="127.0.0.1", PGPORT=str(closed_port)),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == ""
    assert completed.stderr == ""
