"""Write `/v1/openapi.json` to a file without running the API:
`python -m umbrella.openapi_dump clients/typescript/openapi.json`.

The routes need no server, so the document is built from an app that is never started, with
settings of its own rather than the environment's: the same document on every machine (the
typed client in clients/typescript is generated from it, `make client`).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from umbrella.config import ENV_PREFIX, Environment, load_settings
from umbrella.web.openapi import build_openapi

# Where no client goes: the app is built, never started, so nothing is ever connected to.
_UNUSED = "127.0.0.1:9"


@contextmanager
def _without_settings_from_environment() -> Iterator[None]:
    saved = {name: value for name, value in os.environ.items() if name.startswith(ENV_PREFIX)}
    for name in saved:
        del os.environ[name]
    try:
        yield
    finally:
        os.environ.update(saved)


def client_document() -> dict[str, Any]:
    """The document a production deployment serves, at the default public address."""
    from umbrella.app import create_app  # the whole app: only when a document is asked for

    with _without_settings_from_environment():
        settings = load_settings(
            env=Environment.PRODUCTION,
            database_url=f"postgresql://openapi@{_UNUSED}/openapi",
            redis_url=f"redis://{_UNUSED}/0",
            s3_endpoint=f"http://{_UNUSED}",
            # Placeholders, never used: the app is built, not started.
            s3_access_key="unused",
            s3_secret_key="unused",  # noqa: S106
            secret_key="an unused key: this app never serves a request",  # noqa: S106
            # No provider is called either (production's defaults need their credentials).
            email_backend="console",
            sms_backend="console",
        )
    return build_openapi(create_app(settings))


def write(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(client_document(), indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="the JSON file to write")
    write(parser.parse_args(argv).output)


if __name__ == "__main__":
    main()
