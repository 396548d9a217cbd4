"""The layout keeps its promises (docs/architecture.md): no import cycle between modules, no
private name imported from another module, and the layers import-linter states in
pyproject.toml. Each test reads the source tree, so a change that breaks the rule fails here."""

from __future__ import annotations

import ast
from pathlib import Path

from support.requirements import require_module

SRC = Path(__file__).resolve().parents[1] / "src" / "photoanalyzer"
# Modules allowed beside the packages: the entry points, and what every layer uses (the
# config, the errors, paths as bytes and as text).
ROOT_MODULES = {"__init__.py", "__main__.py", "config.py", "errors.py", "pathnames.py"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, imported names, line) for every `from photoanalyzer... import` and
    `import photoanalyzer...` in the file, at any depth (inside functions too), except those
    under `if TYPE_CHECKING:`."""
    found = []
    tree = ast.parse(path.read_text(), str(path))
    type_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for inner in ast.walk(node)
    }  # imports for annotations only: no cycle at run time
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "photoanalyzer":
                found.append((node.module, [a.name for a in node.names], node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "photoanalyzer":
                    found.append((alias.name, [], node.lineno))
    return found


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SRC.rglob("*.py")}


def test_the_package_root_holds_packages_and_the_four_shared_modules():
    loose = {p.name for p in SRC.glob("*.py")} - ROOT_MODULES
    assert not loose, f"modules in the package root: {sorted(loose)}"
    for package in (p for p in SRC.iterdir() if p.is_dir() and p.name != "__pycache__"):
        if not (package / "__init__.py").exists():
            continue  # data folders (templates, static)
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
        assert doc, f"{package.name}/__init__.py says nothing of what it owns"


def test_no_private_name_is_imported_from_another_module():
    modules = _modules()
    offences = []
    for name, path in modules.items():
        for target, names, line in _imports(path):
            if target == name:
                continue
            for imported in names:
                if imported.startswith("_") and not imported.startswith("__"):
                    offences.append(f"{path.relative_to(SRC)}:{line} imports {target}.{imported}")
    assert not offences, "\n".join(offences)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target, names, _line in _imports(path):
            # `from photoanalyzer.pkg import module` imports the module, not only the package
            candidates = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
            for dependency in candidates or [target]:
                if dependency in modules and dependency != name:
                    graph[name].add(dependency)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle_between_modules_even_inside_functions():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_import_linter_contracts_hold():
    lint = require_module("importlinter.cli")  # the dev extra
    assert lint.lint_imports(config_filename=str(SRC.parents[1] / "pyproject.toml")) == 0
