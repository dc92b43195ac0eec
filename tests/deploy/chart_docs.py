"""The parameter table of charts/umbrella/README.md, generated from values.yaml's `## @param` lines.

    python -m tests.deploy.chart_docs          # rewrite the table (make chart-readme)
    python -m tests.deploy.chart_docs --check  # exit 1 if it is stale

tests/deploy/test_chart_docs.py fails when the table is stale or a value has no `@param`.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Any

import yaml

from tests.deploy.chart import CHART_DIR

VALUES = CHART_DIR / "values.yaml"
README = CHART_DIR / "README.md"
START, END = "<!-- parameters:start -->", "<!-- parameters:end -->"
PARAM = re.compile(r"^\s*## @param (?P<path>[\w.\-/]+)(?: \[(?P<modifier>\w+)\])? (?P<text>.+)$")
SECTION = re.compile(r"^## @section (?P<title>.+)$")


@dataclass(frozen=True)
class Param:
    section: str
    path: str
    description: str


def params(text: str | None = None) -> list[Param]:
    found, section = [], ""
    for line in (text if text is not None else VALUES.read_text()).splitlines():
        if match := SECTION.match(line):
            section = match["title"]
        elif match := PARAM.match(line):
            found.append(Param(section, match["path"], match["text"].strip()))
    return found


def lookup(values: dict[str, Any], path: str) -> Any:
    node: Any = values
    for part in path.split("."):
        node = node[part]
    return node


def leaves(node: Any, prefix: str = "") -> list[str]:
    """Paths of every value that is not a non-empty map (those are documented one by one)."""
    if isinstance(node, dict) and node:
        return [leaf for key, child in node.items() for leaf in leaves(child, f"{prefix}{key}.")]
    return [prefix.rstrip(".")]


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f'`"{value}"`' if value == "" else f"`{value}`"
    text = json.dumps(value, separators=(", ", ": "))
    if len(text) > 48:
        return "see values.yaml"
    return f"`{text}`"


def table() -> str:
    values = yaml.safe_load(VALUES.read_text())
    lines: list[str] = []
    section = None
    for param in params():
        if param.section != section:
            section = param.section
            lines += [
                "",
                f"### {section}",
                "",
                "| Name | Description | Value |",
                "| --- | --- | --- |",
            ]
        description = param.description.replace("|", "\\|")
        value = _shown(lookup(values, param.path)).replace("|", "\\|")
        lines.append(f"| `{param.path}` | {description} | {value} |")
    return "\n".join(lines).strip() + "\n"


def rendered_readme() -> str:
    text = README.read_text()
    before, rest = text.split(START, 1)
    _, after = rest.split(END, 1)
    return f"{before}{START}\n{table()}{END}{after}"


def main(argv: list[str]) -> int:
    expected = rendered_readme()
    if "--check" in argv:
        if README.read_text() != expected:
            print(f"{README} is stale: run `make chart-readme`", file=sys.stderr)
            return 1
        return 0
    README.write_text(expected)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
