"""The shape of ``src/sealbox``: public faces, imports through them, no cycles, no upward arrows.

Read from the source text (``ast``), so a lazy import inside a function counts as much as one at
the top: a loop dodged by importing late is still a loop.

* Every package says what it offers in ``__init__.py``: a sorted ``__all__`` (constants, then
  classes, then functions, as ``ruff`` RUF022 sorts) naming only what exists, and nothing public
  bound there that ``__all__`` leaves out (httpx's ``test_exported_members``).
* An import that crosses into another package names that package's face (its ``__init__``) and
  only names in its ``__all__``, or one of its public subpackages. A package's own modules, and
  those of its subpackages, may import each other directly. ``sealbox.errors``, ``.duration`` and
  ``.render`` are faces of their own; generated code (``sealbox._proto``) is exempt.
* No import cycle between modules, and no module outside ``sealbox.cli`` imports it.
"""

from __future__ import annotations

import ast
import importlib
import re
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
ROOT = SRC / "sealbox"
GENERATED = "sealbox._proto"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _source_files() -> dict[str, Path]:
    files = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
    return {name: path for name, path in files.items() if not _in(name, GENERATED)}


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


FILES = _source_files()
PACKAGES = sorted(name for name, path in FILES.items() if path.name == "__init__.py")
ROOT_FACES = sorted(
    name
    for name, path in FILES.items()
    if path.parent == ROOT and path.name != "__init__.py" and not path.name.startswith("_")
)


def _package_of(module: str) -> str:
    """The package a module belongs to (a package belongs to itself)."""
    return module if module in PACKAGES else module.rpartition(".")[0]


@dataclass(frozen=True, slots=True)
class Import:
    importer: str
    target: str
    names: tuple[str, ...]
    line: int

    def __str__(self) -> str:
        what = f" ({', '.join(self.names)})" if self.names else ""
        return f"{FILES[self.importer].relative_to(SRC)}:{self.line}: {self.target}{what}"


def _imports(module: str) -> Iterator[Import]:
    tree = ast.parse(FILES[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("sealbox"):
                    yield Import(module, alias.name, (), node.lineno)
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and node.module.startswith("sealbox")
        ):
            names = tuple(alias.name for alias in node.names)
            yield Import(module, node.module, names, node.lineno)


IMPORTS = [item for module in FILES for item in _imports(module)]


def _sort_key(name: str) -> tuple[int, str]:
    """RUF022's order: SCREAMING_CASE, then CamelCase, then the rest, each alphabetically."""
    if name.isupper() or re.fullmatch(r"[A-Z0-9_]+", name):
        return 0, name
    return (1 if name[:1].isupper() else 2), name


@pytest.mark.parametrize("package", [*PACKAGES, *ROOT_FACES])
def test_exported_members(package: str) -> None:
    module = importlib.import_module(package)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{package} declares no __all__"
    assert list(exported) == sorted(exported, key=_sort_key), f"{package}.__all__ is not sorted"
    missing = [name for name in exported if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ names what it does not have: {missing}"
    if package not in PACKAGES:
        return  # a module's helpers and imports are its own business; its __all__ is checked
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"  # from __future__ import annotations
    }
    listed = {name for name in exported if not name.startswith("_")}  # __version__ is dunder
    assert public == listed, (
        f"{package}: bound but not exported {sorted(public - listed)}; "
        f"exported but not bound {sorted(listed - public)}"
    )
    assert module.__doc__, f"{package} has no docstring saying what it owns"


def _face_names(face: str) -> set[str]:
    module = importlib.import_module(face)
    return set(getattr(module, "__all__", ()))


def _is_subpackage(face: str, name: str) -> bool:
    """``name`` is a public subpackage of ``face``, or a root module that is a face itself."""
    child = f"{face}.{name}"
    return (child in PACKAGES or child in ROOT_FACES) and not name.startswith("_")


def _crossing_problem(item: Import) -> str | None:
    """Why ``item`` breaks the face rule, or None when it is fine."""
    target = item.target
    if _in(target, GENERATED):
        return None
    if target in ROOT_FACES or target == "sealbox":
        face = target
    else:
        owner = _package_of(target) if target in FILES else target.rpartition(".")[0]
        if _in(item.importer, owner):
            return None  # inside the package (or one of its subpackages)
        if target not in PACKAGES:
            return f"reaches into {target} instead of {owner}'s face"
        face = target
    if not item.names:
        return None  # ``import sealbox.x``: the face itself
    exported = _face_names(face)
    hidden = [n for n in item.names if n not in exported and not _is_subpackage(face, n)]
    return f"{face} does not export {hidden}" if hidden else None


def test_imports_across_packages_go_through_faces() -> None:
    problems = [f"{item}: {why}" for item in IMPORTS if (why := _crossing_problem(item))]
    assert not problems, "\n".join(problems)


def _edges() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {module: set() for module in FILES}
    for item in IMPORTS:
        if _in(item.target, GENERATED) or item.target not in FILES:
            continue
        submodules = {f"{item.target}.{name}" for name in item.names} & FILES.keys()
        if len(submodules) < len(item.names) or not item.names:
            graph[item.importer].add(item.target)  # a name from the module or the face itself
        graph[item.importer] |= submodules  # ``from pkg import module`` needs only that module
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), or a self-import."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    assert _cycles(_edges()) == []


def test_nothing_outside_the_cli_imports_it() -> None:
    """``python -m sealbox`` (``sealbox.__main__``) is an entry point, like the console script."""
    upward = [
        str(item)
        for item in IMPORTS
        if _in(item.target, "sealbox.cli")
        and not _in(item.importer, "sealbox.cli")
        and item.importer != "sealbox.__main__"
    ]
    assert not upward, "\n".join(upward)


def test_the_checker_sees_a_cycle_and_a_reach_past_a_face() -> None:
    """The rules above would pass on nothing if the helpers were broken: prove they bite."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    deep = Import("sealbox.cli.main", "sealbox.encryption.config", ("load_config",), 1)
    assert _crossing_problem(deep) is not None
    face = Import("sealbox.cli.main", "sealbox.encryption", ("load_config",), 1)
    assert _crossing_problem(face) is None
    assert len(IMPORTS) > 100
    assert len(PACKAGES) > 5


def test_no_type_ignore_in_src() -> None:
    """Typing holes are fixed, not silenced (a wrong third-party stub would say why, inline)."""
    found = [
        f"{path.relative_to(SRC)}:{number}"
        for name, path in FILES.items()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "type: ignore" in line and "stub" not in line
    ]
    assert not found, found
