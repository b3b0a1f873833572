"""The package's layers hold: every import inside faiglib (module level or inside a function) goes to the same
layer or one below it. The order is the README's: core -> models, data -> methods -> measures -> training ->
studies -> report -> gpu, cli (``profiles`` is read by all, ``faiglib/__init__`` re-exports)."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "faiglib"
RANK = {"core": 0, "models": 1, "data": 1, "methods": 2, "measures": 3, "training": 4, "studies": 5, "report": 6,
        "gpu": 7, "cli": 7}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "faiglib" and parts[1] in RANK else None


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
    return out


MODULES = sorted(p for p in ROOT.rglob("*.py") if p.name != "__init__.py" or p.parent != ROOT)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_import_runs_upward(path):
    here = _layer("faiglib." + ".".join(path.relative_to(ROOT).with_suffix("").parts))
    if here is None:  # profiles
        return
    upward = [f"line {line}: {module} ({_layer(module)})" for line, module in _imports(path)
              if _layer(module) is not None and RANK[_layer(module)] > RANK[here]]
    assert not upward, f"{path.relative_to(ROOT)} ({here}) imports from a higher layer: {upward}"


def test_the_check_sees_imports_at_any_depth(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import os\n\ndef f():\n    from faiglib.studies.lam import lam\n    import faiglib.report.plots\n")
    assert [(_layer(m), line) for line, m in _imports(source) if _layer(m)] == [("studies", 4), ("report", 5)]


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_two_modules_import_each_other():
    graph = {}
    for path in ROOT.rglob("*.py"):
        here = _module(path)
        graph[here] = {m for _, m in _imports(path) if m.startswith("faiglib.") and m != here}
    known = set(graph)
    cycles = sorted(f"{a} <-> {b}" for a in graph for b in graph[a] & known if a < b and a in graph.get(b, ()))
    assert not cycles, f"modules that import each other: {cycles}"
