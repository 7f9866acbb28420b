"""The package's shape: import layers that point one way, no cycles, one file name per module, short modules.

The graph is read with :mod:`ast`, without importing anything. Every ``import`` /
``from ... import`` inside ``triplanenet/`` is an edge, wherever it stands: a
function-level (deferred) import still ties two modules together, it only hides
the cycle from the interpreter, and an ``if TYPE_CHECKING:`` import is a dependency
all the same. ``from package import name`` points at the submodule
``package.name`` when there is one, else at ``package`` itself. Importing a
submodule also runs its parent packages' ``__init__``; those implicit edges are
left out (otherwise every package that re-exports a child would be a cycle).
"""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "triplanenet"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE
TRAINING_COMMANDS = {"train-encoder", "train-generator"}
"""Still in ``training/*_cli.py``, next to the trainers they drive."""
LAYERS = [
    ("cameras", "configs", "pretrained", "devices", "image_tensors"),
    ("models", "rendering"),
    ("loading", "synthetic"),
    ("preprocess", "identity"),
    ("inversion",),
    ("refinement",),
    ("editing",),
    ("outputs",),
    ("pipeline",),
    ("clips",),
    ("evaluation",),
    ("training",),
    ("app", "commands", "cli", ""),
]
"""Top-level modules and packages from the bottom up: utilities, networks, checkpoints and synthetic data, then
the stages in the order of the flow (photo -> crop and camera -> inversion -> refinement -> views, depth and
mesh), the pipeline that chains them, video input built on it (``clips``: a head per frame), evaluation and
training, and the front ends (``""`` is the package's own ``__init__``, which re-exports the public API). A module imports from its own layer and those below, never above."""
MAX_LINES = 400
LONG_LINES = 350
"""Modules longer than this say why in their docstring (a sentence with the word "longer")."""
SHARED_FILE_NAMES = {"__init__.py", "__main__.py"}


def module_names(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name -> file of every module in the package (a package is its ``__init__.py``)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = (PACKAGE, *path.relative_to(root).with_suffix("").parts)
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's own modules that module ``name`` (file ``path``) imports, anywhere in the file."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
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


def layer(module: str) -> int:
    """The index in :data:`LAYERS` of a dotted module name."""
    top = module.split(".")[1] if "." in module else ""
    return next(i for i, names in enumerate(LAYERS) if top in names)


def test_every_top_level_module_has_a_layer():
    tops = {name.split(".")[1] for name in module_names() if "." in name}
    assert tops == {top for names in LAYERS for top in names} - {""}


def test_layers_point_down():
    graph = import_graph()
    upward = {f"{module} -> {target}" for module, targets in graph.items() for target in targets
              if layer(target) > layer(module)}
    assert not upward, "imports that reach up a layer (see LAYERS):\n" + "\n".join(sorted(upward))


def test_no_two_modules_share_a_file_name():
    names: dict[str, list[Path]] = {}
    for path in ROOT.rglob("*.py"):
        if path.name not in SHARED_FILE_NAMES and path.parent.name != "commands":
            names.setdefault(path.name, []).append(path.relative_to(ROOT))
    shared = {name: paths for name, paths in names.items() if len(paths) > 1}
    assert not shared, f"file names used twice: {shared}"


def test_modules_are_short_or_say_why():
    too_long, unexplained = [], []
    for path in ROOT.rglob("*.py"):
        lines = path.read_text(encoding="utf-8").count("\n")
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if lines > MAX_LINES:
            too_long.append(f"{path.relative_to(ROOT)}: {lines}")
        elif lines > LONG_LINES and "longer" not in docstring.lower():
            unexplained.append(f"{path.relative_to(ROOT)}: {lines}")
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"
    assert not unexplained, f"modules over {LONG_LINES} lines whose docstring does not say why: {unexplained}"


def test_stage_packages_say_what_comes_in_and_goes_out():
    for stage in ("preprocess", "inversion", "refinement", "outputs", "clips"):
        docstring = ast.get_docstring(ast.parse((ROOT / stage / "__init__.py").read_text(encoding="utf-8")))
        assert docstring and " in" in docstring and " out" in docstring, stage


def test_every_sub_command_lives_under_commands():
    from triplanenet.cli import COMMANDS

    outside = {name for name, (module, _) in COMMANDS.items() if not module.startswith(f"{PACKAGE}.commands.")}
    assert outside <= TRAINING_COMMANDS, f"sub-commands outside triplanenet/commands: {sorted(outside)}"


def test_the_cycle_finder_sees_deferred_relative_and_type_checking_imports(tmp_path):
    """Cycles made of a relative top-level import and a function-level or ``TYPE_CHECKING`` one are found."""
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
    assert graph["triplanenet.models.net"] == {"triplanenet.views", "triplanenet.bundled"}
    assert find_cycles(graph) == [["triplanenet.bundled", "triplanenet.models.net", "triplanenet.bundled"]]
