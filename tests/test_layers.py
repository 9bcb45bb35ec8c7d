"""The layer contract (docs: ../shared/ARCHITECTURE.md), checked over the real import graph of src/xrayssl.

Data flows down the layers; an import may only point to the same or a lower layer, and no two top-level parts
may import each other (a cycle). Imports inside functions count: a lazy import is still a dependency. A few
pairs are forbidden even though they point down (evaluate never imports train; the report reads stored results
only). The checker is plain ast, so it needs nothing installed and cannot import (and so run) the package.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "xrayssl"

# lowest first; each entry names the top-level modules or subpackages of xrayssl in that layer. `runs` is low
# ("beside data": evaluation and the report read run folders through it, never through train) but sits above
# models, because loading a run's encoder builds its backbone. `tasks` and `steps` are the two shapes that the
# current issues add (ARCHITECTURE.md), placed now so that adding them needs no change here.
LAYERS: list[tuple[str, set[str]]] = [
    ("base", {"errors", "configfile", "paths", "fileio", "processes", "version", "catalog", "metrics", "tasks"}),
    ("data", {"data"}),
    ("augment", {"augment"}),
    ("models", {"models"}),
    ("runs", {"runs"}),
    ("train", {"train"}),
    ("evaluate", {"evaluate"}),
    ("study", {"study"}),
    ("report", {"report"}),
    ("top", {PACKAGE, "__main__", "api", "cli", "demo", "export", "export_config", "runners", "steps"}),
]

# (importer prefix, imported prefix, why): downward imports that the architecture still forbids
FORBIDDEN: list[tuple[str, str, str]] = [
    ("xrayssl.evaluate", "xrayssl.train", "evaluation reads run folders through runs, never through train"),
    ("xrayssl.train", "xrayssl.evaluate", "training watches itself through metrics, never through evaluate"),
    ("xrayssl.study", "xrayssl.api", "the study runs steps through the layers below it, not the public API"),
    ("xrayssl.report", "xrayssl.train", "the report reads stored results only"),
    ("xrayssl.report", "xrayssl.evaluate", "the report reads stored results only, not evaluation's cache readers"),
]
# The report reads a study's stored results only: not the cache, nor what reads it (its own test).
REPORT_RESULTS_ONLY: list[tuple[str, str, str]] = [
    ("xrayssl.report", f"xrayssl.data.{module}", f"the report reads stored results only, not the cache ({module})")
    for module in ("cache", "cache_write", "prepare", "sample")
]

# Edges that break the contract and are being removed (none now). Each is one "importer ->
# imported" string; the test fails when one no longer occurs, so that the entry is deleted with the edge.
KNOWN_VIOLATIONS: list[str] = []

RANK = {part: rank for rank, (_, parts) in enumerate(LAYERS) for part in parts}


def module_name(path: Path, src: Path = SRC) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules(src: Path = SRC) -> dict[str, Path]:
    return {module_name(path, src): path for path in sorted((src / PACKAGE).rglob("*.py"))}


def imports_of(module: str, source: str, is_package: bool, known: set[str]) -> list[tuple[str, int]]:
    """Every xrayssl module that ``module`` imports, anywhere in the file (functions and TYPE_CHECKING blocks
    included), with its line. ``from xrayssl import runs`` is the submodule; ``from xrayssl import X`` of a
    name that is not a module is the package root."""
    found = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((sub if sub in known else base, node.lineno))
    return [(name, line) for name, line in found if name == PACKAGE or name.startswith(PACKAGE + ".")]


def import_edges(src: Path = SRC) -> list[tuple[str, str, int]]:
    modules = all_modules(src)
    known = set(modules)
    edges = []
    for module, path in modules.items():
        for imported, line in imports_of(module, path.read_text(), path.name == "__init__.py", known):
            edges.append((module, imported, line))
    return edges


def part_of(module: str) -> str:
    """The top-level part of xrayssl a module belongs to (the package root is its own part)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else PACKAGE


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(edges: Iterable[tuple[str, str, int]], rules: list[tuple[str, str, str]] = FORBIDDEN) -> list[str]:
    """'importer -> imported' for each upward or forbidden import, and each cycle between top-level parts."""
    edges = list(edges)
    found = []
    for importer, imported, line in edges:
        source, target = part_of(importer), part_of(imported)
        if source not in RANK or target not in RANK:
            unknown = source if source not in RANK else target
            found.append(f"{importer} -> {imported}  (line {line}: '{unknown}' has no layer in LAYERS)")
        elif RANK[target] > RANK[source]:
            found.append(f"{importer} -> {imported}  (line {line}: upward, {target} is above {source})")
        for importer_prefix, banned, why in rules:
            if _within(importer, importer_prefix) and _within(imported, banned):
                found.append(f"{importer} -> {imported}  (line {line}: {why})")
    return found + [f"cycle between parts: {' -> '.join(cycle)}" for cycle in part_cycles(edges)]


def part_cycles(edges: Iterable[tuple[str, str, int]]) -> list[list[str]]:
    """Cycles in the graph of top-level parts (a part importing itself is no cycle), one per cycle found."""
    graph: dict[str, set[str]] = {}
    for importer, imported, _ in edges:
        source, target = part_of(importer), part_of(imported)
        if source != target:
            graph.setdefault(source, set()).add(target)
    cycles, done = [], set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycles.append([*path[path.index(node) :], node])
            return
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, [*path, node])
        done.add(node)

    for node in sorted(graph):
        visit(node, [])
    return cycles


def _edge(entry: str) -> str:
    return entry.split("  (")[0]


def _without_known(edges: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
    return [e for e in edges if f"{e[0]} -> {e[1]}" not in KNOWN_VIOLATIONS]


def test_the_package_keeps_its_layers():
    edges = import_edges()
    found = violations(_without_known(edges))  # a known edge would also show as the cycles it closes
    assert not found, "imports that break the layers (ARCHITECTURE.md):\n" + "\n".join(found)
    stale = [k for k in KNOWN_VIOLATIONS if k not in {f"{e[0]} -> {e[1]}" for e in edges}]
    assert not stale, f"fixed, so delete from KNOWN_VIOLATIONS: {stale}"
    assert not KNOWN_VIOLATIONS, "the contract holds without exceptions: fix an upward import, do not park it here"


def test_the_report_reads_stored_results_only():
    found = violations(import_edges(), rules=REPORT_RESULTS_ONLY)
    assert not found, "\n".join(found)


def test_every_part_of_the_package_has_a_layer():
    parts = {part_of(module) for module in all_modules()}
    assert parts <= set(RANK), f"add to LAYERS: {sorted(parts - set(RANK))}"
    assert len(RANK) == sum(len(p) for _, p in LAYERS), "a part is in two layers"


def test_imports_inside_functions_and_relative_imports_count():
    source = "def f():\n    from xrayssl.train import harness\n    from ..evaluate import probe\n"
    known = {"xrayssl.train.harness", "xrayssl.evaluate.probe"}
    found = imports_of("xrayssl.data.prepare", source, is_package=False, known=known)
    assert found == [("xrayssl.train.harness", 2), ("xrayssl.evaluate.probe", 3)]
    root = imports_of("xrayssl.runs", "from xrayssl import __version__\n", is_package=False, known=known)
    assert root == [("xrayssl", 1)]  # a name from the package root: the top layer, so upward from runs


@pytest.mark.parametrize(
    ("edge", "says"),
    [
        (("xrayssl.data.prepare", "xrayssl.train.harness"), "upward, train is above data"),
        (("xrayssl.runs", "xrayssl"), "upward, xrayssl is above runs"),
        (("xrayssl.study.runner", "xrayssl.cli.main"), "upward, cli is above study"),
        (("xrayssl.evaluate.run_probe", "xrayssl.train.pretrain"), "never through train"),
        (("xrayssl.study.runner", "xrayssl.api"), "not the public API"),
        (("xrayssl.newpart", "xrayssl.data"), "'newpart' has no layer"),
    ],
)
def test_the_checker_fails_on_a_planted_bad_import(edge, says):
    planted = violations([*import_edges(), (*edge, 1)])
    assert any(f"{edge[0]} -> {edge[1]}" in v and says in v for v in planted), planted


def test_the_checker_fails_on_a_report_that_reads_the_cache():
    planted = violations([("xrayssl.report.plots", "xrayssl.data.cache", 1)], rules=REPORT_RESULTS_ONLY)
    assert planted == ["xrayssl.report.plots -> xrayssl.data.cache  (line 1: the report reads stored results only, "
                       "not the cache (cache))"]  # fmt: skip


def test_the_checker_fails_on_a_cycle_within_a_layer():
    found = violations([("xrayssl.errors", "xrayssl.paths", 1), ("xrayssl.paths", "xrayssl.errors", 1)])
    assert found == ["cycle between parts: errors -> paths -> errors"]
