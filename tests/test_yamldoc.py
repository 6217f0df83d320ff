"""``sealbox.yamldoc``: positions of mappings, keys and items, duplicates, and only YAML errors."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from sealbox.yamldoc import (
    DuplicateKey,
    KeyedMapping,
    NestingError,
    YamlList,
    YamlMapping,
    error_line,
    line_at,
    load_yaml,
)

PARSERS = pytest.mark.parametrize("pure_python", [False, True], ids=["libyaml", "python"])

POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: Metadata
    resources:
      - group: ""
        resources: [secrets]
  - level: None
"""


def _mapping(value: object) -> KeyedMapping:
    assert isinstance(value, KeyedMapping)
    return value


@PARSERS
def test_mappings_keys_and_items_know_their_lines(pure_python: bool) -> None:
    document = _mapping(load_yaml(POLICY, fields=True, pure_python=pure_python))
    assert document.line == 1
    assert document.key_lines == {"apiVersion": 1, "kind": 2, "rules": 3}
    rules = document["rules"]
    assert isinstance(rules, YamlList)
    assert rules.lines == [4, 8]
    first = _mapping(rules[0])
    assert (first.line, first.key_lines) == (4, {"level": 4, "resources": 5})
    assert _mapping(first["resources"][0]).key_lines == {"group": 6, "resources": 7}
    assert first["resources"][0]["resources"].lines == [7]


def test_without_fields_only_mappings_know_their_line() -> None:
    document = load_yaml(POLICY)
    assert isinstance(document, YamlMapping)
    assert not isinstance(document, KeyedMapping)
    assert document.line == 1
    assert type(document["rules"]) is list  # a repository of manifests needs no more
    assert [rule.line for rule in document["rules"]] == [4, 8]
    assert line_at(document, "rules[1].level") == 8  # the rule's line: keys have none here
    assert line_at(document, "kind") == 1


def test_line_offset_shifts_every_line_but_not_errors() -> None:
    assert _line(load_yaml("a: {b: 1}\n", line_offset=10)) == 11
    document = _mapping(load_yaml("a:\n  - b: 1\n", line_offset=10, fields=True))
    items = document["a"]
    assert (document.line, document.key_lines, items.lines) == (11, {"a": 11}, [12])
    assert _mapping(items[0]).key_lines == {"b": 12}
    with pytest.raises(yaml.YAMLError) as caught:
        load_yaml("a: [\n", line_offset=10)
    assert error_line(caught.value) == 2


@PARSERS
def test_duplicate_keys_are_recorded_and_the_last_value_kept(pure_python: bool) -> None:
    text = "a: 1\nb: 2\na: 3\n1: x\n0x1: y\n"
    document = _mapping(load_yaml(text, fields=True, pure_python=pure_python))
    assert document == {"a": 3, "b": 2, 1: "y"}
    assert document.duplicates == (DuplicateKey("a", 3, 1), DuplicateKey(1, 5, 4))
    assert document.key_lines["a"] == 1  # where it is first written
    same_line = _mapping(load_yaml("{k: 1, k: 2}", fields=True, pure_python=pure_python))
    assert same_line.duplicates == (DuplicateKey("k", 1, 1),)


@PARSERS
def test_merged_keys_are_no_duplicates_and_keep_the_anchor_line(pure_python: bool) -> None:
    text = "base: &b {a: 1, b: 2}\nm:\n  <<: *b\n  a: 3\n  c: 4\n  c: 5\n"
    merged = _mapping(_mapping(load_yaml(text, fields=True, pure_python=pure_python))["m"])
    assert merged == {"a": 3, "b": 2, "c": 5}
    assert merged.duplicates == (DuplicateKey("c", 6, 5),)
    assert merged.key_lines == {"a": 1, "b": 1, "c": 5}


def test_an_equals_key_is_a_plain_string_as_in_pyyaml() -> None:
    assert load_yaml("=: 1\n", pure_python=True) == yaml.safe_load("=: 1\n") == {"=": 1}


def test_line_at_finds_the_deepest_known_node() -> None:
    document = load_yaml(POLICY, fields=True)
    assert line_at(document, "") == 1
    assert line_at(document, "kind") == 2
    assert line_at(document, "rules[1]") == 8
    assert line_at(document, "rules[1].level") == 8
    assert line_at(document, "rules[0].resources[0].resources[0]") == 7
    assert line_at(document, "rules[0].verbs") == 4  # missing: the rule's own line
    assert line_at(document, "rules[9].level") == 3  # out of range: the list's key
    assert line_at(document, "kind.nested") == 2  # not a mapping
    assert line_at(["a", "b"], "[1]") == 0  # no positions at all
    assert line_at({"a": 1}, "a") == 0


@PARSERS
@pytest.mark.parametrize(
    ("text", "what", "line"),
    [
        ("a: 0x_\n", "integer", 1),
        ("a: 1\nb: 2020-13-45\n", "timestamp", 2),
        ("a: !!int x\n", "integer", 1),
        ("a: !!bool maybe\n", "boolean", 1),
        ("a: !!float x\n", "number", 1),
        ("a: !!timestamp x\n", "timestamp", 1),
        ("!!int\n", "integer", 1),
    ],
)
def test_values_pyyaml_cannot_build_are_constructor_errors(
    pure_python: bool, text: str, what: str, line: int
) -> None:
    with pytest.raises(yaml.constructor.ConstructorError) as caught:
        load_yaml(text, pure_python=pure_python)
    assert caught.value.problem == f"not a valid {what}"  # the value itself is not quoted
    assert error_line(caught.value) == line


@PARSERS
@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("!!map abc\n", "expected a mapping node, but found scalar"),
        ("!!seq abc\n", "expected a sequence node, but found scalar"),
        ("? [a]\n: 1\n", "found unhashable key"),
        ("a: 1\n---\nb: 2\n", "but found another document"),
    ],
)
def test_malformed_documents_raise_pyyaml_errors(
    pure_python: bool, text: str, problem: str
) -> None:
    with pytest.raises(yaml.MarkedYAMLError) as caught:
        load_yaml(text, pure_python=pure_python)
    assert caught.value.problem == problem


def test_nesting_past_the_recursion_limit_is_a_nesting_error() -> None:
    with pytest.raises(NestingError) as caught:
        load_yaml("[" * 5000 + "]" * 5000, pure_python=True)
    assert str(caught.value) == "nested too deeply"
    assert error_line(caught.value) == 0


@PARSERS
def test_a_lone_surrogate_is_a_reader_error(pure_python: bool) -> None:
    with pytest.raises(yaml.reader.ReaderError) as caught:
        load_yaml("a: \udc80\n", pure_python=pure_python)
    assert (caught.value.character, caught.value.position) == (0xDC80, 3)
    assert error_line(caught.value) == 0


def test_no_document_is_none() -> None:
    assert load_yaml("") is None
    assert load_yaml("# only a comment\n") is None


def _line(value: object) -> int:
    assert isinstance(value, YamlMapping)
    return value.line


def _plain(value: Any) -> Any:
    """Nested data without the position subclasses (NaN made comparable)."""
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


_TOKENS = st.sampled_from(
    [
        *("a", "b", "<<", "=", "&x", "*x", "!!int", "!!str", "!!map", "!!seq", "!!binary", "!foo"),
        *("0x_", "2020-13-45", "1", "1.5", "yes", "~", "'q'", '"d"', "[", "]", "{", "}", ","),
        *(":", ": ", "- ", "? ", "\n", "\n  ", "\n    ", " ", "#", "---", "|", ">", "\t", "é"),
    ]
)
_YAMLISH = st.lists(_TOKENS, max_size=40).map("".join)
_ANY_TEXT = st.text(alphabet=st.characters(codec=None, categories=None), max_size=40)
# stdin read with surrogateescape can hold lone surrogates, which libyaml cannot take
_SURROGATES = st.lists(st.sampled_from(["a: ", "\n", "- "]) | st.characters(categories=["Cs"]))


@given(
    st.one_of(_YAMLISH, st.text(max_size=80), _ANY_TEXT, _SURROGATES.map("".join)), st.booleans()
)
@example("a: 0x_", False)  # what escaped PyYAML as ValueError, KeyError, ...
@example("- !!bool x\n- !!timestamp 2001-99-01", False)
@example("a: \udc80", False)
@example("[" * 2000 + "]" * 2000, True)
def test_any_text_loads_or_raises_a_yaml_error(text: str, pure_python: bool) -> None:
    for fields in (False, True):
        with contextlib.suppress(yaml.YAMLError):  # anything else fails the test
            load_yaml(text, fields=fields, pure_python=pure_python)


_DATA = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=6) | st.integers(), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(_DATA, st.booleans(), st.booleans(), st.booleans())
def test_documents_are_what_pyyaml_builds(
    data: object, flow: bool, fields: bool, pure_python: bool
) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow)
    assert _plain(load_yaml(text, fields=fields, pure_python=pure_python)) == yaml.safe_load(text)


@given(_YAMLISH)
def test_both_parsers_build_the_same_positions(text: str) -> None:
    outcomes: list[list[object] | None] = []
    for pure_python in (False, True):
        try:
            outcomes.append(_positions(load_yaml(text, fields=True, pure_python=pure_python)))
        except yaml.YAMLError:
            outcomes.append(None)
    if None not in outcomes:
        assert outcomes[0] == outcomes[1]


def _positions(value: object, seen: set[int] | None = None) -> list[object]:
    seen = set() if seen is None else seen
    if id(value) in seen:
        return []
    seen.add(id(value))
    if isinstance(value, KeyedMapping):
        keys = [(repr(k), line) for k, line in value.key_lines.items()]
        found: list[object] = [value.line, keys, list(value.duplicates)]
        return found + [_positions(item, seen) for item in value.values()]
    if isinstance(value, YamlList):
        return [value.lines, *(_positions(item, seen) for item in value)]
    return []
