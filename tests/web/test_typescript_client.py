"""The typed TypeScript client of clients/typescript compiles against the API's document.

The document is written without a server (`python -m umbrella.openapi_dump`), the locked
openapi-typescript turns it into types, and the locked `tsc --strict` checks the client with
them, including src/must-not-compile.ts: calls the types must refuse (a write without its
body, an error code that does not exist). The committed src/schema.d.ts, which a web app
copies, must be what `make client` writes from today's document.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from umbrella import openapi_dump

PACKAGE = Path(__file__).resolve().parents[2] / "clients" / "typescript"
BIN = PACKAGE / "node_modules" / ".bin"
GENERATED = "schema.d.ts"


@dataclass(frozen=True)
class Generated:
    """A copy of the package whose types come from the current document."""

    root: Path

    @property
    def schema(self) -> Path:
        return self.root / "src" / GENERATED


def _run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    missing = "clients/typescript has no node_modules: `make quick` installs them (npm ci)"
    assert (BIN / "openapi-typescript").exists(), missing
    assert (BIN / "tsc").exists(), missing
    root = tmp_path_factory.mktemp("typescript-client")
    document = root / "openapi.json"
    openapi_dump.write(document)
    shutil.copy(PACKAGE / "tsconfig.json", root / "tsconfig.json")
    shutil.copytree(PACKAGE / "src", root / "src", ignore=shutil.ignore_patterns(GENERATED))
    (root / "node_modules").symlink_to(PACKAGE / "node_modules", target_is_directory=True)
    result = _run(BIN / "openapi-typescript", document, "--output", f"src/{GENERATED}", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    return Generated(root)


def test_the_client_compiles_with_the_documents_types(generated: Generated) -> None:
    result = _run(
        BIN / "tsc", "--project", "tsconfig.json", "--strict", "--noEmit", cwd=generated.root
    )
    assert result.returncode == 0, "tsc:\n" + result.stdout + result.stderr


def test_the_committed_types_are_those_of_the_current_document(generated: Generated) -> None:
    committed = (PACKAGE / "src" / GENERATED).read_text()
    assert committed == generated.schema.read_text(), (
        "clients/typescript/src/schema.d.ts is stale: run `make client` and commit it"
    )


def test_the_types_refuse_a_write_without_its_body(generated: Generated) -> None:
    """The generated operation says its body is required (no `?`), so openapi-fetch does."""
    text = generated.schema.read_text()
    start = text.index("    sendMessage: {")
    operation = text[start : text.index("\n    };\n", start)]
    assert "\n        requestBody: {" in operation
    assert "requestBody?:" not in operation
