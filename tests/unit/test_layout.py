"""The layout keeps its promises: imports run one way (no cycle between modules, lazy
imports inside functions counted), every package imports alone, importing the engine
changes nothing, and no module grows past 600 lines."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.helpers import ROOT

PACKAGES = ("engine", "rules", "synthetic_population")
SUBPACKAGES = (
    "engine",
    "engine.core",
    "engine.model",
    "engine.model.primitives",
    "engine.simulation",
    "engine.outputs",
    "engine.reports",
    "engine.cli",
    "rules",
    "synthetic_population",
    "synthetic_population.extract",
)


def _modules() -> dict[str, object]:
    out = {}
    for pkg in PACKAGES:
        for f in (ROOT / pkg).rglob("*.py"):
            parts = f.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = f
    return out


def _imports(path, modules) -> set[str]:
    """First-party modules a module imports, at its top or inside a function: a lazy import
    is no way around a cycle (it only moves the import). Not those under `if TYPE_CHECKING:`,
    which never run."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(n)
        for node in tree.body
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found |= {n for n in names if n in modules}
    return found


def test_no_import_cycle_between_modules():
    modules = _modules()
    graph = {m: _imports(p, modules) - {m} for m, p in modules.items()}
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for n in graph[m]:
            if state.get(n) == 1:
                cycle = path[path.index(n) :] + [n] if n in path else [m, n]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if n not in state:
                visit(n, [*path, n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_each_package_imports_alone(package):
    done = subprocess.run(
        [sys.executable, "-c", f"import {package}"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_no_python_file_over_600_lines():
    long = {}
    for folder in (*PACKAGES, "tests", "bench"):
        for f in (ROOT / folder).rglob("*.py"):
            n = len(f.read_text(encoding="utf-8").splitlines())
            if n > 600:
                long[str(f.relative_to(ROOT))] = n
    assert not long, long
