"""The import graph, read from the source (AST, nothing imported): ``registro/`` is the
ground floor and imports nothing above it; no shipped part imports the dev harness.

``registro/cli.py`` is the one composition root: the ``registro`` console script, whose
commands run the worker's scraper, the demo site and the dev harness's ``up``. It may
import them, but only inside its functions, so importing ``registro.cli`` (or any other
module of ``registro/``) loads nothing above the ground floor.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Packages above the ground floor, as they are imported (pyproject's package-dir).
ABOVE = ("registro.api", "registro.worker", "registro.legacy_demo", "registro_operator",
         "devstack", "tests", "benchmarks")
DEV_ONLY = ("devstack", "tests", "benchmarks")
COMPOSITION_ROOT = REPO / "registro" / "cli.py"
# folder -> the package its modules belong to (pyproject's package-dir)
SHIPPED = {"registro": "registro", "api": "registro.api", "worker": "registro.worker",
           "legacy_demo": "registro.legacy_demo",
           "operator/registro_operator": "registro_operator"}


def _package_of(path: Path, folder: str) -> str:
    """The package a module file belongs to (for ``__init__.py``: its own)."""
    relative = path.relative_to(REPO / folder).with_suffix("")
    return ".".join([SHIPPED[folder], *relative.parts[:-1]])


def imports(source: str, package: str) -> list[tuple[int, str, bool]]:
    """(line, imported module, at module level) of every import in a module of
    ``package``; relative imports resolved; ``from registro import worker`` counts as
    ``registro.worker``."""
    tree = ast.parse(source)
    nested: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            nested.update(id(n) for n in ast.walk(node) if n is not node)
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        for name in names:
            found.append((node.lineno, name, id(node) not in nested))
    return found


def _is(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _sources(folder: str) -> list[Path]:
    return sorted(p for p in (REPO / folder).rglob("*.py") if "__pycache__" not in p.parts)


def test_the_ground_floor_imports_nothing_above_it():
    upward = []
    for path in _sources("registro"):
        for line, name, module_level in imports(path.read_text(), _package_of(path, "registro")):
            if not _is(name, ABOVE):
                continue
            if path == COMPOSITION_ROOT and not module_level:
                continue  # the console script's commands, loaded when they run
            upward.append(f"{path.relative_to(REPO)}:{line} imports {name}")
    assert not upward, "registro/ imports upwards:\n" + "\n".join(upward)


@pytest.mark.parametrize("folder", sorted(set(SHIPPED) - {"registro"}))
def test_no_shipped_part_imports_the_dev_harness(folder):
    found = [f"{path.relative_to(REPO)}:{line} imports {name}"
             for path in _sources(folder)
             for line, name, _ in imports(path.read_text(), _package_of(path, folder))
             if _is(name, DEV_ONLY)]
    assert not found, "\n".join(found)


def test_the_scan_sees_an_upward_import():
    """The scanner itself: module-level and nested, absolute and relative imports."""
    source = ("from registro.worker import tasks\n"
              "def f():\n    from ..api import main\n    import devstack.up\n")
    found = {(name, top) for _, name, top in imports(source, "registro.sub")}
    assert ("registro.worker", True) in found
    assert ("registro.api.main", False) in found
    assert ("devstack.up", False) in found


def test_the_api_builds_no_worker_app_at_import():
    """The API publishes with its own Celery app (registro/celery_config.py): importing it
    loads neither the worker's app nor its tasks, and reads no settings."""
    import subprocess
    import sys

    code = ("import sys, registro.api.main, registro.api.deps; "
            "print(sorted(m for m in sys.modules if m.startswith('registro.worker.') "
            "and m.rsplit('.', 1)[1] in ('celery_app', 'tasks', 'runtime')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
