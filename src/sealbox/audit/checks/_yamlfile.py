"""Read one small YAML config file (EncryptionConfiguration, audit Policy) keeping line numbers.

The file-based checks need more precise places than the manifest loader gives: the line of a
list item (a provider, a rule) and the line of a scalar field (``apiVersion: v1`` of a KMS block).
So mappings here are :class:`KeyedDict` (a :class:`~sealbox.audit.loader.LineDict` that also
remembers the line of each key) and sequences are :class:`LineList` (with the line of each item).
:func:`line_at` walks a field path such as ``resources[0].providers[2].aescbc.keys[1].secret`` to
the most precise line it can find.

Only what stops a file from being read at all is reported here, as :class:`InputProblem`: a
missing or unreadable file, one over the size limit, binary or non-UTF-8 data, malformed YAML, or
an empty file. Nothing from the file's content is quoted (the files can hold keys).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sealbox.audit.loader import DEFAULT_MAX_BYTES, LineDict
from sealbox.audit.model import InputProblem, Location

__all__ = ["KeyedDict", "LineList", "YamlFile", "line_at", "parse", "read_yaml_file"]

_PATH_TOKEN = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


class KeyedDict(LineDict):
    """A YAML mapping with its own line and the line of each of its keys."""

    __slots__ = ("key_lines",)

    def __init__(self, line: int = 0) -> None:
        super().__init__(line)
        self.key_lines: dict[object, int] = {}


class LineList(list[Any]):
    """A YAML sequence that remembers the line of each of its items."""

    __slots__ = ("lines",)

    def __init__(self, lines: list[int]) -> None:
        super().__init__()
        self.lines = lines


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe loader building :class:`KeyedDict` and :class:`LineList` (C parser when available)."""


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Iterator[KeyedDict]:
    data = KeyedDict(node.start_mark.line + 1)
    yield data
    data.update(loader.construct_mapping(node))
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            key = loader.construct_object(key_node)
            data.key_lines.setdefault(key, key_node.start_mark.line + 1)


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> Iterator[LineList]:
    data = LineList([item.start_mark.line + 1 for item in node.value])
    yield data
    data.extend(loader.construct_sequence(node))


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


@dataclass(frozen=True, slots=True)
class YamlFile:
    """A file that was read: its text and its single YAML document (not None)."""

    path: str
    text: str
    document: object


def read_yaml_file(
    path: Path, what: str, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> tuple[YamlFile | None, list[InputProblem]]:
    """Read and parse ``path`` (``what`` names it in problems: "EncryptionConfiguration").

    Returns the file, or None and the problems that stopped it. Never raises for bad content.
    """
    name = str(path)
    where = Location(name)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return None, [InputProblem(where, f"{what} skipped: {size} bytes is over the limit")]
        data = path.read_bytes()
    except OSError as exc:
        return None, [InputProblem(where, f"cannot read the {what}: {exc.strerror or exc}")]
    if b"\x00" in data:
        return None, [InputProblem(where, f"{what} skipped: binary file (NUL bytes)")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = f"{what} skipped: not UTF-8 text (invalid byte at offset {exc.start})"
        return None, [InputProblem(where, message)]
    document, problem = parse(text, name, what)
    if problem is not None:
        return None, [problem]
    return YamlFile(name, text, document), []


def parse(text: str, path: str, what: str) -> tuple[object, InputProblem | None]:
    """The one YAML document in ``text``, or an input problem (malformed, several, or empty)."""
    loader = _Loader(text)
    try:
        document = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problem = getattr(exc, "problem", None) or "cannot parse"
        return None, InputProblem(Location(path, line), f"malformed YAML in the {what}: {problem}")
    except RecursionError:
        return None, InputProblem(Location(path), f"malformed YAML in the {what}: nested too deep")
    finally:
        loader.dispose()
    if document is None:
        return None, InputProblem(Location(path), f"the {what} is empty")
    return document, None


def line_at(document: object, path: str) -> int:
    """The line of the deepest node of ``path`` found in ``document`` (0 when none has a line).

    ``path`` uses the field-path syntax of config issues: ``rules[2].resources[0].group``.
    """
    node: object = document
    line = getattr(document, "line", 0)
    for index, name in _PATH_TOKEN.findall(path):
        if index:
            if not isinstance(node, list) or int(index) >= len(node):
                break
            lines = getattr(node, "lines", None)
            node = node[int(index)]
            line = lines[int(index)] if lines else getattr(node, "line", 0) or line
        else:
            if not isinstance(node, dict) or name not in node:
                break
            line = getattr(node, "key_lines", {}).get(name, line)
            node = node[name]
    return int(line)
