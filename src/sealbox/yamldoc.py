"""YAML with positions: the one safe loader for every YAML text Sealbox reads.

Findings and config errors point at lines, so a document loads into containers that remember
where they were written. Every mapping is a :class:`YamlMapping`, a ``dict`` with the 1-based
``line`` it starts on. Loaded with ``fields=True``, as config files whose problems name a field
are, it is a :class:`KeyedMapping` that also knows the line each key is first written on
(``key_lines``) and the keys written more than once (``duplicates``: PyYAML keeps the last value
silently, which hides a mistake), and every sequence is a :class:`YamlList` with the line of each
item (``lines``). Without it sequences are plain lists: a repository of manifests only needs the
mappings' lines, and the per-key positions would take half as much memory again.

:func:`load_yaml` builds them from PyYAML's safe tags only (never a Python object), on libyaml's C
parser when PyYAML has it. ``line_offset`` is added to the line of every mapping, key and item,
for a document cut out of a longer stream. :func:`line_at` finds the line of a field path such
as ``resources[0].providers[2].kms``; :func:`error_line` the line a YAML error points at.

Whatever the text, :func:`load_yaml` raises :class:`yaml.YAMLError` and nothing else: a scalar the
safe constructors cannot convert (``!!int x``, the date ``2020-13-45``) is a ``ConstructorError``
at its position, and nesting deeper than Python's recursion limit a :class:`NestingError`. The
errors added here quote nothing from the text, which may hold keys.

This module imports PyYAML and nothing else, so the pure core (``sealbox.encryption``) uses it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterator
from typing import Any, NamedTuple, Protocol, TypeAlias

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

__all__ = [
    "DuplicateKey",
    "KeyedMapping",
    "NestingError",
    "YamlList",
    "YamlMapping",
    "error_line",
    "line_at",
    "load_yaml",
]

_MERGE_TAG = "tag:yaml.org,2002:merge"
_FLATTENED_TAGS = frozenset({_MERGE_TAG, "tag:yaml.org,2002:value"})
_FIELD_STEP = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


class DuplicateKey(NamedTuple):
    """A key written again in one mapping: the key, that line, and the line it was first on."""

    key: object
    line: int
    first_line: int


class YamlMapping(dict[Any, Any]):
    """A YAML mapping that knows the line it starts on (0 when unknown)."""

    __slots__ = ("line",)

    def __init__(self, line: int = 0) -> None:
        # No dict.__init__: it would only add items to this new, empty mapping, and loading a
        # repository makes one per mapping (the call is measurable there).
        self.line = line


class KeyedMapping(YamlMapping):
    """A YAML mapping that also knows the line of each key, and the keys it repeats.

    ``key_lines`` holds the first line each key is written on; keys merged in with ``<<`` count
    where the merged mapping writes them. ``duplicates`` lists the keys the mapping itself writes
    again (merging is not a duplicate); the value kept is the last one, as in PyYAML.
    """

    __slots__ = ("duplicates", "key_lines")

    def __init__(self, line: int = 0) -> None:
        super().__init__(line)
        self.key_lines: dict[object, int] = {}
        self.duplicates: tuple[DuplicateKey, ...] = ()


class YamlList(list[Any]):
    """A YAML sequence that knows the line of each of its items."""

    __slots__ = ("lines",)

    def __init__(self) -> None:
        # No list.__init__: it would only add items to this new, empty list (one per sequence).
        self.lines: list[int] = []


class NestingError(yaml.MarkedYAMLError):
    """The text nests deeper than Python's recursion limit lets PyYAML follow."""

    def __init__(self) -> None:
        super().__init__(problem="nested too deeply")


class _Positions(SafeConstructor):
    """PyYAML's safe constructor, building positioned mappings (and lists, with ``fields``)."""

    line_offset = 0
    fields = False


class _PythonLoader(_Positions, yaml.SafeLoader):
    """PyYAML's own parser: slower than libyaml, and it words some errors differently."""


class _Loader(Protocol):
    line_offset: int
    fields: bool

    def get_single_data(self) -> Any: ...

    def dispose(self) -> None: ...


_FAST_LOADER: Callable[[str], _Loader] = _PythonLoader
if yaml.__with_libyaml__:  # PyYAML's wheels have it; a build from source may not

    class _CLoader(_Positions, yaml.CSafeLoader):
        """libyaml's parser, several times faster: the audit reads whole repositories."""

    _FAST_LOADER = _CLoader

_PositionedLoader: TypeAlias = "_PythonLoader | _CLoader"  # what calls the constructors below


def _construct_mapping(loader: _PositionedLoader, node: yaml.MappingNode) -> Iterator[YamlMapping]:
    # Two steps, like PyYAML's own constructors: the empty mapping first, so an anchor that
    # refers to itself gets the object it is part of.
    base = loader.line_offset + 1  # marks count lines from 0
    if not loader.fields:
        plain = YamlMapping(node.start_mark.line + base)
        yield plain
        plain.update(loader.construct_mapping(node))
        return
    data = KeyedMapping(node.start_mark.line + base)
    yield data
    if isinstance(node, yaml.MappingNode) and not _flattens(node):
        _fill(loader, node, data, base)
    else:
        _fill_flattened(loader, node, data, base)


def _flattens(node: yaml.MappingNode) -> bool:
    """Does PyYAML rewrite this mapping before building it (a ``<<`` merge, a ``=`` key)?"""
    for key_node, _ in node.value:  # noqa: SIM110 - any() over a generator is 1% slower here
        if key_node.tag in _FLATTENED_TAGS:
            return True
    return False


def _fill(loader: _PositionedLoader, node: yaml.MappingNode, data: KeyedMapping, base: int) -> None:
    """PyYAML's ``BaseConstructor.construct_mapping``, noting each key's line on the way.

    One pass instead of PyYAML's and then ours: manifests are mostly small mappings, and a
    second loop over every key made loading a repository measurably slower.
    """
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node)
        if not isinstance(key, Hashable):
            problem = "found unhashable key"
            raise ConstructorError(
                "while constructing a mapping", node.start_mark, problem, key_node.start_mark
            )
        line = key_node.start_mark.line + base
        if key in data.key_lines:
            data.duplicates += (DuplicateKey(key, line, data.key_lines[key]),)
        else:
            data.key_lines[key] = line
        data[key] = loader.construct_object(value_node)


def _fill_flattened(
    loader: _PositionedLoader, node: yaml.MappingNode, data: KeyedMapping, base: int
) -> None:
    """PyYAML's own ``construct_mapping``, then the positions.

    For what PyYAML rewrites (``<<`` merges, ``=`` keys) or rejects (a ``!!map`` tag on a node
    that is no mapping): its own code does both, with its own errors.
    """
    written = node.value[:]  # construct_mapping drops the ``<<`` pairs from node.value
    data.update(loader.construct_mapping(node))
    keys = loader.constructed_objects  # every key was built (and cached) by construct_mapping
    for key_node, _ in node.value:  # merged pairs first, as PyYAML puts them
        data.key_lines.setdefault(keys[key_node], key_node.start_mark.line + base)
    first_lines: dict[object, int] = {}
    for key_node, _ in written:
        if key_node.tag == _MERGE_TAG:
            continue  # merging is not writing a key twice
        key, line = keys[key_node], key_node.start_mark.line + base
        if key in first_lines:
            data.duplicates += (DuplicateKey(key, line, first_lines[key]),)
        else:
            first_lines[key] = line


def _construct_sequence(loader: _PositionedLoader, node: yaml.SequenceNode) -> Iterator[list[Any]]:
    data = YamlList() if loader.fields else []
    yield data
    data.extend(loader.construct_sequence(node))  # first: it rejects a node that is no sequence
    if isinstance(data, YamlList):
        base = loader.line_offset + 1
        data.lines = [item.start_mark.line + base for item in node.value]


_ScalarConstructor = Callable[[SafeConstructor, yaml.ScalarNode], object]


def _checked(
    construct: _ScalarConstructor, what: str
) -> Callable[[_PositionedLoader, yaml.ScalarNode], object]:
    """``construct``, with the Python errors PyYAML lets escape turned into ConstructorError."""

    def build(loader: _PositionedLoader, node: yaml.ScalarNode) -> object:
        try:
            return construct(loader, node)
        except (ArithmeticError, AttributeError, LookupError, ValueError):
            # int("") for "0x_", date(2020, 13, 45), ...: the value is not quoted, it may be a key
            raise ConstructorError(None, None, f"not a valid {what}", node.start_mark) from None

    return build


_Positions.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Positions.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)
for _tag, _construct, _what in (
    ("bool", SafeConstructor.construct_yaml_bool, "boolean"),
    ("int", SafeConstructor.construct_yaml_int, "integer"),
    ("float", SafeConstructor.construct_yaml_float, "number"),
    ("timestamp", SafeConstructor.construct_yaml_timestamp, "timestamp"),
):
    _Positions.add_constructor(f"tag:yaml.org,2002:{_tag}", _checked(_construct, _what))


def _fast_loader(text: str) -> _Loader:
    try:
        return _FAST_LOADER(text)
    except UnicodeEncodeError as exc:  # libyaml reads UTF-8, which has no lone surrogates
        character = ord(text[exc.start])
        reason = "special characters are not allowed"  # what PyYAML's own reader says
        raise yaml.reader.ReaderError(
            "<unicode string>", exc.start, character, "unicode", reason
        ) from None


def load_yaml(
    text: str, *, line_offset: int = 0, fields: bool = False, pure_python: bool = False
) -> object:
    """The one YAML document in ``text`` (None when there is none), positioned.

    Mappings are :class:`YamlMapping`; with ``fields`` they are :class:`KeyedMapping` and
    sequences :class:`YamlList`. Lines are 1-based and shifted by ``line_offset``.
    ``pure_python`` parses with PyYAML's own parser instead of libyaml, for callers whose
    messages quote the parser's wording.

    Raises:
        yaml.YAMLError: ``text`` is not a single valid YAML document; its marks count lines
            within ``text``, without ``line_offset`` (see :func:`error_line`).
    """
    loader = _PythonLoader(text) if pure_python else _fast_loader(text)
    loader.line_offset = line_offset
    loader.fields = fields
    try:
        return loader.get_single_data()
    except RecursionError:
        raise NestingError from None
    finally:
        loader.dispose()


def error_line(error: yaml.YAMLError) -> int:
    """The 1-based line of ``text`` a :func:`load_yaml` error points at (0 when it names none)."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        if mark is not None:
            return mark.line + 1
    return 0


def line_at(document: object, path: str) -> int:
    """The line of the deepest node of ``path`` found in ``document`` (0 when none has one).

    ``path`` is a field path as config issues write them: ``rules[2].resources[0].group``. A
    key's line is where the key is written, a list item's where the item starts (for a document
    loaded with ``fields``; otherwise the line of the mapping that holds them).
    """
    node = document
    line = document.line if isinstance(document, YamlMapping) else 0
    for index, name in _FIELD_STEP.findall(path):
        if index:
            position = int(index)
            if not isinstance(node, list) or position >= len(node):
                break
            item = node[position]
            if isinstance(node, YamlList):
                line = node.lines[position]
            elif isinstance(item, YamlMapping) and item.line:
                line = item.line
            node = item
        else:
            if not isinstance(node, dict) or name not in node:
                break
            if isinstance(node, KeyedMapping):
                line = node.key_lines.get(name, line)
            node = node[name]
    return line
