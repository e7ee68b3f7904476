"""The package's shape: layers, no cycles, no private names across modules, short files.

The layer contracts themselves live in pyproject.toml ([tool.importlinter]) and are
checked here with import-linter, so that `make test` and CI enforce them. The rest is
read from the source with :mod:`ast`: every import, at module level and inside
functions.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "visualmic"
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80
#: A function may be longer when its docstring says why, with these words.
LONG_REASON = "long because"


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path, path.name == "__init__.py"


def _resolve(module: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports():
    """Yield ``(importer, imported module, names, line)`` for every import in the package."""
    for module, path, is_pkg in _modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                yield module, _resolve(module, is_pkg, node), [a.name for a in node.names], \
                    node.lineno
            elif isinstance(node, ast.Import):
                for a in node.names:
                    yield module, a.name, [], node.lineno


LAYER_OF = {"core": 0, "io": 0, "sim": 1, "eval": 1, "engine": 2, "learn": 3, "cli": 5}


def _layer(module: str):
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "visualmic":
        return None
    if parts[1] == "_api":
        return 4
    return LAYER_OF.get(parts[1])


def test_no_module_imports_another_modules_private_names():
    bad = []
    for importer, imported, names, line in _imports():
        if not imported.startswith("visualmic"):
            continue
        for name in names:
            if name.startswith("_") and not name.startswith("__") and imported != importer:
                bad.append(f"{importer}:{line} imports {name} from {imported}")
    assert not bad, "\n".join(bad)


def test_layers_point_down_including_imports_inside_functions():
    bad = []
    for importer, imported, names, line in _imports():
        a, b = _layer(importer), _layer(imported)
        if a is None or b is None:
            # "from . import x" inside a layer, or shared helpers: check the submodules named.
            continue
        if b > a:
            bad.append(f"{importer}:{line} imports {imported} (a higher layer)")
        if importer.split(".")[1] == "core" and imported.split(".")[1] == "io":
            bad.append(f"{importer}:{line} imports {imported} (core must not import io)")
        if importer.split(".")[1] == "io" and imported.split(".")[1] == "core":
            bad.append(f"{importer}:{line} imports {imported} (io must not import core)")
    assert not bad, "\n".join(bad)


def test_no_import_cycles_between_modules():
    graph: dict[str, set[str]] = {}
    modules = {m for m, _, _ in _modules()}
    for importer, imported, names, _ in _imports():
        targets = {imported} | {f"{imported}.{n}" for n in names}
        for t in targets:
            if t in modules and t != importer and not importer.startswith(t + "."):
                graph.setdefault(importer, set()).add(t)
    # The package roots ("visualmic", "visualmic.core", ...) only re-export lazily.
    roots = {m for m, _, is_pkg in _modules() if is_pkg}
    for r in roots:
        graph.pop(r, None)
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(m, stack):
        state[m] = 1
        for n in sorted(graph.get(m, ())):
            if n in roots:
                continue
            if state.get(n) == 1:
                cycle.extend(stack[stack.index(n):] + [n])
                return True
            if state.get(n) is None and visit(n, stack + [n]):
                return True
        state[m] = 2
        return False

    for m in sorted(graph):
        if state.get(m) is None and visit(m, [m]):
            break
    assert not cycle, " -> ".join(cycle)


def test_source_files_are_short():
    long_files = [f"{p.relative_to(SRC)}: {n}" for _, p, _ in _modules()
                  if (n := len(p.read_text().splitlines())) > MAX_FILE_LINES]
    assert not long_files, long_files


def test_long_functions_say_why():
    bad = []
    for module, path, _ in _modules():
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                doc = ast.get_docstring(node) or ""
                if n > MAX_FUNCTION_LINES and LONG_REASON not in doc:
                    bad.append(f"{module}.{node.name}: {n} lines")
    assert not bad, "\n".join(bad)


@pytest.mark.skipif(shutil.which("lint-imports") is None and not (
    Path(sys.executable).parent / "lint-imports").exists(), reason="import-linter not installed")
def test_import_linter_contracts_are_kept():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    r = subprocess.run([exe, "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
                       cwd=ROOT / "src", capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout
