"""The package's layout is its pipeline: a module imports only from its own stage or earlier.

Every ``import`` and ``from ... import`` is checked, including those inside functions (the
CLI and several library functions import lazily), so a shortcut from an early stage to a late
one (a loss that draws a plot, a dataset that reads a run folder) fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import labelspace

PACKAGE = Path(labelspace.__file__).parent

# stages in pipeline order; the foundation modules may be imported by every stage
FOUNDATION = ("errors", "files", "locks", "paths", "signals", "validation")
STAGES = (
    "hierarchy",
    "embeddings",
    "data",
    "models",
    "metrics",
    "training",
    "analysis",
    "reporting",
    "experiments",
    "api",
    "cli",
)


def _stage(module: str) -> int:
    """-1 for the package root and foundation modules, else the stage's position."""
    parts = module.split(".")
    if parts[1:] == ["__main__"]:  # python -m labelspace: the command line
        return STAGES.index("cli")
    if len(parts) == 1:  # the package root re-exports the API (loaded on first use)
        return STAGES.index("api")
    if parts[1] in FOUNDATION:
        return -1
    return STAGES.index(parts[1])


def _modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        found.append((".".join(rel.parts).removesuffix(".__init__"), path))
    return found


def _imports(module: str, path: Path) -> list[tuple[int, str]]:
    """``(line, imported module)`` for every labelspace import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against the module's package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            targets = [name]
            if name == "labelspace":  # from labelspace import x: x may be a subpackage
                targets = [f"labelspace.{alias.name}" for alias in node.names]
            found += [(node.lineno, t) for t in targets]
    return [(line, name) for line, name in found if name.split(".")[0] == "labelspace"]


def test_every_module_belongs_to_a_stage():
    for module, _ in _modules():
        parts = module.split(".")
        assert len(parts) == 1 or parts[1] in (*FOUNDATION, *STAGES, "__main__"), module


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_imports_only_from_its_own_stage_or_earlier(module, path):
    own = _stage(module)
    late = [
        f"line {line}: {name}"
        for line, name in _imports(module, path)
        if name != "labelspace" and _stage(name) > own
    ]
    if module.split(".")[1:2] and module.split(".")[1] in FOUNDATION:
        late += [
            f"line {line}: {name}" for line, name in _imports(module, path) if _stage(name) >= 0
        ]
    assert not late, f"{module} ({STAGES[own] if own >= 0 else 'foundation'}) imports a later stage"


def test_the_rule_catches_a_late_import(tmp_path):
    bad = tmp_path / "base.py"
    bad.write_text("def f():\n    from labelspace.reporting.figures import pyplot\n")
    assert _imports("labelspace.models.methods.base", bad) == [(2, "labelspace.reporting.figures")]
    assert _stage("labelspace.reporting.figures") > _stage("labelspace.models.methods.base")


# --------------------------------------------------------------------------- no loops in a stage
def _graph(modules: list[tuple[str, Path]]) -> dict[str, set[str]]:
    """``{module: modules of its own stage it imports}``, every import counted (also those
    inside functions); a package's ``__init__`` stands for the package, an import of the
    module's own package is left out, and the foundation modules count as one stage."""
    known = {module for module, _ in modules}
    graph: dict[str, set[str]] = {}
    for module, path in modules:
        names = {name for _, name in _imports(module, path)}
        # ``from labelspace.cli import models`` imports the module labelspace.cli.models
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names |= {f"{node.module}.{alias.name}" for alias in node.names}
        graph[module] = {
            name
            for name in names
            if name in known
            and _stage(name) == _stage(module)
            # a module's own packages are imported before it in any case: no loop of design
            and not module.startswith(f"{name}.")
            and name != module
        }
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop (``[a, b, ..., a]``), or None: a depth-first search for a back edge."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_loop_inside_a_stage():
    loop = _cycle(_graph(_modules()))
    assert loop is None, "import loop inside a stage: " + " -> ".join(loop or [])


def test_the_loop_check_catches_a_loop(tmp_path):
    (tmp_path / "analyze.py").write_text(
        "def f():\n    from labelspace.analysis.predict import g\n"
    )
    (tmp_path / "predict.py").write_text("from labelspace.analysis import analyze\n")
    (tmp_path / "backoff.py").write_text("import torch\n")
    modules = [
        ("labelspace.analysis.analyze", tmp_path / "analyze.py"),
        ("labelspace.analysis.predict", tmp_path / "predict.py"),
        ("labelspace.analysis.backoff", tmp_path / "backoff.py"),
    ]
    graph = _graph(modules)
    assert graph["labelspace.analysis.predict"] == {"labelspace.analysis.analyze"}
    loop = _cycle(graph)
    assert loop is not None and loop[0] == loop[-1]
    assert set(loop) == {"labelspace.analysis.analyze", "labelspace.analysis.predict"}
    del modules[1]
    assert _cycle(_graph(modules)) is None
