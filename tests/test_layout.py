"""The house rules of the layout, checked on the source: no import circle, no upward import, no file over
400 lines, a short top level in `nas/`. Every import counts, function-local ones too (they exist only to
keep start-up fast, never to hide a circle)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nas", "search_spaces", "predictors", "hw_profiles")
MAX_LINES = 400

# Rooms of nas/, lowest first: a module may import its own room and the rooms below it, never above.
NAS_RANKS = {
    "nas.errors": 0, "nas.registry": 0, "nas.run_folder": 0,
    "nas.data": 1, "nas.models": 2, "nas.training": 3, "nas.profiling": 4, "nas.search": 5,
    "nas.export": 6, "nas.report": 7, "nas.pipeline": 8, "nas.search_command": 8, "nas.predictor_command": 8, "nas.audit": 8, "nas.cli": 9, "nas.cli_parser": 9, "nas.__main__": 10, "nas": 10,
}
# Which of our packages each package may import (the design card's direction); nas.registry is the one
# module below them all.
ALLOWED_PACKAGES = {
    "search_spaces": {"search_spaces"},
    "hw_profiles": {"hw_profiles"},
    "predictors": {"predictors", "search_spaces"},
    "nas": set(PACKAGES),
}
SHARED_BASE = "nas.registry"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


MODULES = {module_name(path): path for path in source_files()}


def resolve(name: str) -> str | None:
    """The most specific of our modules that `name` (a module or module.attribute) refers to."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _runtime_nodes(tree: ast.AST):
    """Every node except those under `if TYPE_CHECKING:` (annotations only, never imported at run time)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                stack.extend(child.orelse)
            else:
                stack.append(child)


def imports_of(module: str) -> set[str]:
    """Our modules that `module` imports anywhere in its body (at run time)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{alias.name}" for alias in node.names]
            if not any(resolve(name) not in (None, resolve(base)) for name in names):
                names.append(base)  # `from package import name` of a plain name: the package itself
            else:
                names = [name for name in names if resolve(name) != resolve(base)] or names
        else:
            continue
        for name in names:
            target = resolve(name)
            if target and target != module:
                found.add(target)
    return found


GRAPH = {module: imports_of(module) for module in MODULES}


def nas_rank(module: str) -> int:
    while module not in NAS_RANKS:
        module = module.rpartition(".")[0]
    return NAS_RANKS[module]


def test_every_module_of_nas_has_a_room():
    for module in MODULES:
        if module.startswith("nas"):
            assert nas_rank(module) >= 0


def test_no_import_circle():
    """Depth-first search over every module's imports; a back edge is a circle."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module], path[len(path):] = 1, [module]
        for target in sorted(GRAPH[module]):
            # A package's __init__ importing its own submodules (to register plugins) is how packages load,
            # not a circle: a submodule importing the package gets the partly initialised package object.
            if module.startswith(target + ".") and MODULES[target].name == "__init__.py":
                continue
            if state.get(target) == 1:
                circle = path[path.index(target):] + [target]
                pytest.fail("import circle: " + " -> ".join(circle))
            if target not in state:
                visit(target)
        state[module] = 2
        path.pop()

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_no_upward_import_inside_nas():
    upward = [f"{module} -> {target}" for module, targets in GRAPH.items() if module.startswith("nas")
              for target in targets if target.startswith("nas") and nas_rank(target) > nas_rank(module)]
    assert not upward, upward


def test_packages_import_only_downward():
    wrong = []
    for module, targets in GRAPH.items():
        package = module.split(".")[0]
        for target in targets:
            if target == SHARED_BASE or target.split(".")[0] in ALLOWED_PACKAGES[package]:
                continue
            wrong.append(f"{module} -> {target}")
    assert not wrong, wrong


def test_the_shared_registry_imports_nothing_of_ours():
    assert GRAPH[SHARED_BASE] == set()


def test_no_source_file_over_400_lines():
    files = source_files() + sorted((ROOT / "scripts").glob("*.py")) + sorted((ROOT / "tests").rglob("*.py"))
    long = {str(path.relative_to(ROOT)): count for path in files
            if (count := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, long


def test_nas_keeps_a_short_top_level():
    top = sorted(path.name for path in (ROOT / "nas").glob("*.py"))
    assert len(top) <= 12, top
