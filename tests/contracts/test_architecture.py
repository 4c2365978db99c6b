"""The layering docs/architecture.md promises, checked over the source itself: no import cycles
between modules or between packages (top-level or lazy), each package importing only the
packages its row of the table allows, no private name used outside its package, Ray only under
raysweep/tune/ and the CLI, config/ free of data, model and attack code, few modules at the
package root, small files, and tune/ as glue (under 900 lines)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
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


def package(module: str) -> str:
    """The package a module belongs to: raysweep.<first part> (raysweep.cli for the root's modules,
    raysweep for its __init__), and `analysis` for the repository's analysis scripts."""
    parts = module.split(".")
    return "analysis" if parts[0] == "analysis" else ".".join(parts[:2])


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """The module graph collapsed onto packages (imports inside one package dropped)."""
    out: dict[str, set[str]] = {}
    for m, deps in graph.items():
        out.setdefault(package(m), set()).update(package(d) for d in deps)
    return {p: deps - {p} for p, deps in out.items()}


PACKAGES = package_graph({m: imports(p) for m, p in MODULES.items()})


def test_no_package_cycles():
    """training -> vaegan -> training is a cycle a module-level check does not see."""
    assert cycles(PACKAGES) == []


def test_the_package_check_finds_a_cycle_the_module_check_misses():
    """Control: two packages importing each other through different modules."""
    modules = {"raysweep.a.x": {"raysweep.b.y"}, "raysweep.b.y": set(), "raysweep.b.z": {"raysweep.a.w"},
               "raysweep.a.w": set()}
    assert cycles(modules) == []
    assert cycles(package_graph(modules)) == [["raysweep.a", "raysweep.b"]]


# What each package may import (docs/architecture.md shows the same table): the flow spec ->
# resolved trials -> trial -> rows -> analysis, over the science packages, with infrastructure
# (_core) at the bottom. "raysweep" is the package's __init__ (its version).
CORE = {"raysweep._core"}
SCIENCE = CORE | {"raysweep.config", "raysweep.results", "raysweep.data", "raysweep.models", "raysweep.attacks",
                  "raysweep.vaegan", "raysweep.training", "raysweep.manifold"}
ALLOWED = {
    "raysweep": CORE,  # UserError, re-exported for plugins
    "raysweep._core": set(),
    "raysweep.config": CORE,
    "raysweep.results": CORE | {"raysweep", "raysweep.config"},
    "raysweep.data": CORE | {"raysweep.config"},
    "raysweep.models": CORE | {"raysweep.config"},
    "raysweep.attacks": CORE | {"raysweep.config", "raysweep.data", "raysweep.models"},
    "raysweep.vaegan": CORE | {"raysweep.config", "raysweep.data"},
    "raysweep.training": CORE | {"raysweep.config", "raysweep.results", "raysweep.data", "raysweep.models",
                                 "raysweep.attacks"},
    "raysweep.manifold": SCIENCE - {"raysweep.manifold", "raysweep.results"},
    "raysweep.resolve": SCIENCE,
    "raysweep.trial": SCIENCE,
    "raysweep.driver": SCIENCE | {"raysweep.resolve", "raysweep.trial"},
    "raysweep.tune": SCIENCE | {"raysweep.resolve", "raysweep.trial", "raysweep.driver"},
    "raysweep.analysis": CORE | {"raysweep.config", "raysweep.results", "raysweep.attacks", "raysweep.training",
                                 "raysweep.manifold"},  # the registries' families and needs
    "analysis": CORE | {"raysweep.analysis"},
    "raysweep.tools": CORE | {"raysweep.config", "raysweep.results"},
    "raysweep.commands": None,  # the command line may import everything
    "raysweep.cli": None,
}


def disallowed(graph: dict[str, set[str]], allowed: dict[str, set[str] | None]) -> dict[str, list[str]]:
    """package -> the packages it imports but may not (a package missing from `allowed` may import none)."""
    bad = {p: sorted(deps - allowed.get(p, set())) for p, deps in graph.items() if allowed.get(p, set()) is not None}
    return {p: d for p, d in bad.items() if d}


def test_packages_import_only_what_the_table_allows():
    assert disallowed(PACKAGES, ALLOWED) == {}


def test_the_table_check_finds_an_import_back_up():
    """Control: a science package importing the trial, and a package the table does not know."""
    graph = {"raysweep.attacks": {"raysweep.data", "raysweep.trial"}, "raysweep.new": {"raysweep._core"}}
    assert disallowed(graph, ALLOWED) == {"raysweep.attacks": ["raysweep.trial"], "raysweep.new": ["raysweep._core"]}


def is_private(dotted: str) -> bool:
    """A name inside a package that starts with an underscore (`raysweep.attacks.base._chunks`,
    `raysweep.models._registry`); the package's own name may (`raysweep._core`, the infrastructure
    every package imports, as its row of the table says)."""
    return any(part.startswith("_") and not part.startswith("__") for part in dotted.split(".")[2:])


def private_imports(module: str, source: str) -> list[str]:
    """`module:name` for each private name (`_foo`, or a name reached through a `_module`) that
    `module` (its `source`) imports from another package."""
    own = package(module)
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("raysweep", "analysis"):
            for a in node.names:
                target = f"{node.module}.{a.name}"
                if is_private(target) and package(target) != own:
                    out.append(f"{node.module}:{a.name}")
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names
                    if a.name.startswith("raysweep") and is_private(a.name) and package(a.name) != own]
    return out


def test_no_private_names_across_packages():
    found = {m: private_imports(m, p.read_text()) for m, p in MODULES.items()}
    assert {m: names for m, names in found.items() if names} == {}


def test_the_private_name_check_finds_one():
    """Control: another package's _name or _module is found; the own package's is not, nor a public name."""
    source = ("from raysweep.attacks.base import _chunks, eval_mode\nfrom raysweep.training.loop import _own\n"
              "from raysweep.analysis import _plot\nimport raysweep.models._registry\n"
              "from raysweep._core.errors import UserError\n")
    assert private_imports("raysweep.training.probe", source) == [
        "raysweep.attacks.base:_chunks", "raysweep.analysis:_plot", "raysweep.models._registry"]


RAY_IMPORT = re.compile(r"^\s*(import ray\b|from ray\b)", re.M)


def test_ray_only_under_tune_and_the_cli():
    allowed = ("raysweep.tune", "raysweep.cli", "raysweep.commands")
    offenders = [m for m, p in MODULES.items() if RAY_IMPORT.search(p.read_text()) and not m.startswith(allowed)]
    assert offenders == []
    assert RAY_IMPORT.search("    from ray import tune\n") and not RAY_IMPORT.search("from raysweep import x\n")


def test_config_imports_no_data_model_or_attack_code():
    forbidden = ("raysweep.data", "raysweep.models", "raysweep.attacks", "raysweep.training", "raysweep.manifold",
                 "raysweep.vaegan", "raysweep.trial", "raysweep.tune", "raysweep.resolve")
    bad = {m: sorted(d for d in imports(p) if d.startswith(forbidden))
           for m, p in MODULES.items() if m.startswith("raysweep.config")}
    assert {m: d for m, d in bad.items() if d} == {}


ROOT_MODULES = 8  # the package root: __init__, cli and few others; everything else lives in a package


def test_few_modules_at_the_package_root():
    assert len(list((ROOT / "raysweep").glob("*.py"))) <= ROOT_MODULES


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_files_are_small(path):
    assert len(path.read_text().splitlines()) <= 300


def test_tune_is_glue():
    assert sum(len(p.read_text().splitlines()) for p in ROOT.glob("raysweep/tune/*.py")) < 900
