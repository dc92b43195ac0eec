"""The import layering of `umbrella/`: no cycle between its packages, and core imports no domain.

Bottom first (a package imports only packages below it):

    config
    core            db, cache, storage client, errors, caller, sql, pagination, cron, search cache
    observability   metrics, tracing, logging
    integrations    one client per vendor
    jobs            the job queue: a task gets the worker's vendor clients and counts in metrics
    keys, web       the typed app keys, then the aiohttp glue
    ops, accounts
    notifications, storage, calendar
    artists
    portfolio, files, follows, fans
    studio, gigs, broadcasts, messaging
    search, reviews, violet, alerts
    analytics, privacy
    app, worker, cli, … (the composition roots: import anything, imported by nothing)

When a lower package needs an answer only a higher one has, the composition root wires it
in (`keys.HAS_ARTIST_PROFILE`, `keys.COUNT_TRACKS`, `keys.ARTIST_ID_OF` set by
umbrella/app.py; the violet limit passed to the sampler by umbrella/worker.py) rather than
the lower one importing upwards.
The graph is read from the source (every import counts, lazy and TYPE_CHECKING ones too):
a cycle hidden in a function is still a cycle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "umbrella"
# Piccolo finds its engine and apps through this module: it imports every domain's app.
IGNORED = {"piccolo_conf"}
# Built from the top: they import anything, and nothing of umbrella/ imports them.
COMPOSITION_ROOTS = {
    "__main__",
    "admin",
    "app",
    "cli",
    "dataset",
    "dev",
    "devstack",
    "openapi_dump",
    "seed",
    "startup",
    "worker",
}
INFRASTRUCTURE = {"config", "core", "integrations", "jobs", "keys", "observability", "web"}


def top_level(module: str) -> str | None:
    """`umbrella.gigs.service` → `gigs`; None outside umbrella/."""
    parts = module.split(".")
    return parts[1] if parts[0] == "umbrella" and len(parts) > 1 else None


def is_part(name: str) -> bool:
    return (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").is_file()


def imported_parts(tree: ast.AST) -> Iterator[str]:
    """The top-level parts of umbrella/ a module imports, wherever the import statement is."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (part := top_level(alias.name)) is not None:
                    yield part
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "umbrella":  # `from umbrella import keys`
                yield from (alias.name for alias in node.names if is_part(alias.name))
            elif (part := top_level(node.module)) is not None:
                yield part


def import_graph() -> dict[str, set[str]]:
    """Part of umbrella/ → the other parts it imports (piccolo_conf left out)."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        part = relative.parts[0].removesuffix(".py")
        if part == "__init__" or part in IGNORED:
            continue
        targets = graph.setdefault(part, set())
        for target in imported_parts(ast.parse(path.read_text(), filename=str(path))):
            if target != part and target not in IGNORED:
                targets.add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one part (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_core_is_the_bottom_layer() -> None:
    """core imports only the settings: no domain, and nothing of the layers built on it."""
    imported = import_graph()["core"]
    assert imported <= {"config"}, sorted(imported - {"config"})


def test_the_infrastructure_imports_no_domain() -> None:
    """web is aiohttp glue, jobs the queue, keys the typed keys: none of them knows a domain."""
    graph = import_graph()
    reaching = {part: sorted(graph[part] - INFRASTRUCTURE) for part in sorted(INFRASTRUCTURE)}
    assert reaching == {part: [] for part in sorted(INFRASTRUCTURE)}


def test_nothing_imports_a_composition_root() -> None:
    graph = import_graph()
    offending = sorted(
        (part, target)
        for part, targets in graph.items()
        if part not in COMPOSITION_ROOTS
        for target in targets & COMPOSITION_ROOTS
    )
    assert offending == []


def test_no_import_cycle_between_packages() -> None:
    graph = {
        part: targets for part, targets in import_graph().items() if part not in COMPOSITION_ROOTS
    }
    found = cycles(graph)
    explained = [
        [
            f"{part} -> {target}"
            for part in cycle
            for target in sorted(graph[part])
            if target in cycle
        ]
        for cycle in found
    ]
    assert found == [], explained
