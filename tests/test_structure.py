"""The package's import graph: no cycles, and networks (``models/``) that know nothing of loading or front ends.

The graph is read with :mod:`ast`, without importing anything. Every ``import`` /
``from ... import`` inside ``triplanenet/`` is an edge, wherever it stands: a
function-level (deferred) import still ties two modules together, it only hides
the cycle from the interpreter. Only imports under ``if TYPE_CHECKING:`` are left
out: they never run. ``from package import name`` points at the
submodule ``package.name`` when there is one, else at ``package`` itself.
Importing a submodule also runs its parent packages' ``__init__``; those implicit
edges are left out (otherwise every package that re-exports a child would be a cycle).
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "triplanenet"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE
NETWORKS = f"{PACKAGE}.models"
TYPE_CHECKING = "TYPE_CHECKING"
TRAINING_COMMANDS = {"train-encoder", "train-generator"}
"""Still in ``training/*_cli.py``, next to the trainers they drive."""
NOT_FOR_NETWORKS = tuple(f"{PACKAGE}.{name}" for name in ("loading", "app", "commands"))


def module_names(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name -> file of every module in the package (a package is its ``__init__.py``)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = (PACKAGE, *path.relative_to(root).with_suffix("").parts)
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def is_type_checking(node: ast.AST) -> bool:
    """Whether ``node`` is an ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``) block."""
    test = getattr(node, "test", None) if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == TYPE_CHECKING) or (
        isinstance(test, ast.Attribute) and test.attr == TYPE_CHECKING)


def executed_nodes(tree: ast.AST) -> list[ast.AST]:
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:`` blocks (their ``else`` runs)."""
    nodes, pending = [], [tree]
    while pending:
        node = pending.pop()
        nodes.append(node)
        pending.extend(node.orelse if is_type_checking(node) else ast.iter_child_nodes(node))
    return nodes


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's own modules that module ``name`` (file ``path``) imports, anywhere in the file."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in executed_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = name.split(".")[:len(name.split(".")) - node.level + is_package]
                base = ".".join(anchor + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {target for target in found if target in known and target != name}


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the package's modules it imports."""
    names = module_names(root)
    return {name: imported_modules(name, path, set(names)) for name, path in names.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One closed path (first module repeated at the end) per strongly connected group of two or more modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while not group or group[-1] != node:
                group.append(stack.pop())
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [closed_path(graph, set(group)) for group in groups]


def closed_path(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest cycle through the alphabetically first module of ``group`` (breadth-first inside it)."""
    start = min(group)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & group):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if target not in previous:
                    previous[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"{sorted(group)} is not strongly connected")


def test_the_package_has_no_import_cycle():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_networks_import_nothing_from_loading_or_front_ends():
    graph = import_graph()
    wrong = {f"{module} -> {target}" for module, targets in graph.items() if module.startswith(NETWORKS)
             for target in targets if target.startswith(NOT_FOR_NETWORKS)}
    assert not wrong, "models/ must hold networks only:\n" + "\n".join(sorted(wrong))


def test_every_sub_command_lives_under_commands():
    from triplanenet.cli import COMMANDS

    outside = {name for name, (module, _) in COMMANDS.items() if not module.startswith(f"{PACKAGE}.commands.")}
    assert outside <= TRAINING_COMMANDS, f"sub-commands outside triplanenet/commands: {sorted(outside)}"


def test_the_cycle_finder_sees_deferred_and_relative_imports(tmp_path):
    """A two-module cycle made of a relative top-level import and a function-level one is found."""
    package = tmp_path / PACKAGE
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "models" / "__init__.py").write_text("from .net import Net\n")
    (package / "models" / "net.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .. import views\n"
        "def load():\n    from ..bundled import NAMES\n")
    (package / "views.py").write_text("from .models import net\n")
    (package / "bundled.py").write_text("from .models.net import load\n")
    graph = import_graph(package)
    assert graph["triplanenet.models"] == {"triplanenet.models.net"}
    assert find_cycles(graph) == [["triplanenet.bundled", "triplanenet.models.net", "triplanenet.bundled"]]
