"""The library's layering: packages follow the pipeline and import only downwards, with no cycle.

Each package of ``spylib`` has a level; a module may import (at any depth: top of the file, inside
a function, under TYPE_CHECKING) only modules of its own package or of packages at a lower level.
Within a package, modules must not import each other in a cycle.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

SPYLIB = Path(__file__).resolve().parents[2] / "spylib"

# Lowest first: the tree reads as the pipeline (data -> features -> modelling -> evaluation ->
# reporting), with the shared foundations below and the wiring (stages, cli) on top.
LAYERS: tuple[str, ...] = (
    "core",
    "stats",
    "storage",
    "data",
    "features",
    "modelling",
    "registry",
    "evaluation",
    "reporting",
    "monitoring",
    "stages",
    "cli",
)
LEVEL = {name: i for i, name in enumerate(LAYERS)}


def module_name(path: Path) -> str:
    rel = path.relative_to(SPYLIB.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def spylib_imports(path: Path) -> set[str]:
    """Every spylib module ``path`` imports, resolved to module names (``from pkg import mod`` too)."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("spylib"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("spylib"):
            found.add(node.module)
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if (SPYLIB.parent / candidate.replace(".", "/")).with_suffix(".py").exists() or (
                    SPYLIB.parent / candidate.replace(".", "/") / "__init__.py"
                ).exists():
                    found.add(candidate)
    return found


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


MODULES = {module_name(p): p for p in sorted(SPYLIB.rglob("*.py"))}
GRAPH = {m: {i for i in spylib_imports(p) if i in MODULES} for m, p in MODULES.items()}


def test_every_package_has_a_level() -> None:
    packages = {package_of(m) for m in MODULES} - {""}
    assert packages <= set(LAYERS), f"packages without a level: {sorted(packages - set(LAYERS))}"


def test_no_upward_import() -> None:
    upward = [
        f"{m} imports {i}"
        for m, imports in GRAPH.items()
        if package_of(m)
        for i in imports
        if package_of(i) and LEVEL[package_of(i)] > LEVEL[package_of(m)]
    ]
    assert not upward, "imports against the layering:\n" + "\n".join(sorted(upward))


def test_no_import_cycle() -> None:
    # Package __init__ modules are skipped as nodes: importing a submodule runs its package's
    # __init__, which is not an import *by* the submodule.
    nodes = {m for m in GRAPH if MODULES[m].name != "__init__.py"}
    edges = {m: {i for i in GRAPH[m] if i in nodes and i != m} for m in nodes}
    state: dict[str, int] = defaultdict(int)  # 0 new, 1 on the stack, 2 done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(edges[m]):
            if state[n] == 1:
                return [*stack[stack.index(n) :], n]
            if state[n] == 0 and (cycle := visit(n)):
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(nodes):
        if state[m] == 0 and (cycle := visit(m)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


FOLDERS = sorted({p.parent for p in SPYLIB.rglob("*.py")})


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: str(f.relative_to(SPYLIB.parent)))
def test_packages_stay_small(folder: Path) -> None:
    modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
    assert len(modules) <= 12, f"{folder.relative_to(SPYLIB.parent)} holds {len(modules)} modules: split it"
    long = [f"{p.name}: {n}" for p in modules if (n := len(p.read_text().splitlines())) > 500]
    assert not long, f"modules over 500 lines: {long}"


def test_the_flow_files_imports_load_neither_pandas_nor_scikit_learn() -> None:
    """Every task, the runtime and the card's subprocess import the flow file: its module-level imports
    stay light, and each step imports its stage (pandas, scikit-learn, matplotlib) inside its body."""
    import subprocess
    import sys

    flow = SPYLIB.parent / "flows" / "spy_flow.py"
    found: set[str] = set()
    for node in ast.parse(flow.read_text()).body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__":
            found.add(node.module)
    modules = sorted(found)
    assert "spylib.stages.settings" in modules
    assert "metaflow" in modules
    heavy = ("pandas", "sklearn", "scipy", "matplotlib", "joblib", "arch")
    code = f"import sys\nfor m in {modules!r}: __import__(m)\nprint(sorted(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]", f"the flow file's imports load {loaded.stdout.strip()}"
