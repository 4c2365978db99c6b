"""The layering docs/architecture.md promises, checked over the source itself: no import cycles
(top-level or lazy), Ray only under raysweep/tune/ and the CLI, config/ free of data, model and
attack code, small files, and tune/ as glue (under 900 lines)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted([*ROOT.glob("raysweep/**/*.py"), *ROOT.glob("analysis/*.py")])


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


MODULES = {module_name(p): p for p in FILES}


def imports(path: Path) -> set[str]:
    """raysweep/analysis modules `path` imports anywhere (lazy imports in functions included);
    `from pkg import sub` depends on the submodule, not on the package."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            subs = {f"{node.module}.{a.name}" for a in node.names} & set(MODULES)
            out |= subs
            if len(subs) < len(node.names):
                out.add(node.module)
    return (out & set(MODULES)) - {module_name(path)}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert cycles({m: imports(p) for m, p in MODULES.items()}) == []


def test_the_cycle_check_finds_a_cycle():
    """Control: the checker is not vacuous."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]


RAY_IMPORT = re.compile(r"^\s*(import ray\b|from ray\b)", re.M)


def test_ray_only_under_tune_and_the_cli():
    allowed = ("raysweep.tune", "raysweep.cli", "raysweep.commands")
    offenders = [m for m, p in MODULES.items() if RAY_IMPORT.search(p.read_text()) and not m.startswith(allowed)]
    assert offenders == []
    assert RAY_IMPORT.search("    from ray import tune\n") and not RAY_IMPORT.search("from raysweep import x\n")


def test_config_imports_no_data_model_or_attack_code():
    forbidden = ("raysweep.data", "raysweep.models", "raysweep.attacks", "raysweep.training", "raysweep.manifold",
                 "raysweep.vaegan", "raysweep.trial", "raysweep.tune", "raysweep.resolve.catalog", "raysweep.resolve.validate")
    bad = {m: sorted(d for d in imports(p) if d.startswith(forbidden))
           for m, p in MODULES.items() if m.startswith("raysweep.config")}
    assert {m: d for m, d in bad.items() if d} == {}


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_files_are_small(path):
    assert len(path.read_text().splitlines()) <= 300


def test_tune_is_glue():
    assert sum(len(p.read_text().splitlines()) for p in ROOT.glob("raysweep/tune/*.py")) < 900
