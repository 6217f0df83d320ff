"""The Sprig subset gives Sprig's (Go's) output, and what upstream removed or what would make a
Secret change on every reconcile is absent."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealbox.gotemplate import FUNCTIONS
from sealbox.sealing import TemplateError, render_template

DATA = {"password": b"hunter2'\"=", "html": b"<a&b>", "text": b"line1\nline2"}


def render(text: str, data: dict[str, bytes] | None = None) -> str:
    return render_template("k", text, DATA if data is None else data).decode()


@pytest.mark.parametrize(
    ("text", "want"),
    [
        # toJson is Go's encoding/json: HTML-escaped, compact, sorted keys, Go floats
        ("{{ toJson .password }}", json.dumps("hunter2'\"=")),
        ("{{ toJson .html }}", '"\\u003ca\\u0026b\\u003e"'),
        ('{{ toJson "\\x01\\t\\u2028" }}', '"\\u0001\\t\\u2028"'),
        (
            '{{ toJson (dict "b" 1 "a" (list true nil 1.5 "x")) }}',
            '{"a":[true,null,1.5,"x"],"b":1}',
        ),
        (
            "{{ toJson 3.0 }} {{ toJson 1e21 }} {{ toJson 1e-7 }} {{ toJson 0.000001 }}",
            "3 1e+21 1e-7 0.000001",
        ),
        ("{{ toJson .missing }}", "null"),
        (
            '{{ toPrettyJson (dict "a" (list 1 2) "b" (dict)) }}',
            '{\n  "a": [\n    1,\n    2\n  ],\n  "b": {}\n}',
        ),
        ("{{ toPrettyJson (list) }}", "[]"),
        # quoting
        ('{{ quote "a\\"b" 1 nil }}', '"a\\"b" "1"'),
        ('{{ quote "\\x00é\\u00a0" }}', '"\\x00é\\u00a0"'),
        ('{{ squote "a" 2 }}', "'a' '2'"),
        ("{{ .password | quote }}", '"hunter2\'\\"="'),
        # encodings and digests
        ("{{ .password | b64enc }}", "aHVudGVyMiciPQ=="),
        ('{{ "aHVudGVyMicl" | b64dec }}', "hunter2'%"),
        ('{{ "YWJj!" | b64dec }}', "illegal base64 data at input byte 4"),
        ('{{ "abc" | b32enc }}', "MFRGG==="),
        ('{{ sha256sum "abc" }}', hashlib.sha256(b"abc").hexdigest()),
        ('{{ sha1sum "abc" }}', hashlib.sha1(b"abc").hexdigest()),
        # strings
        ('{{ upper "abcß" }} {{ lower "ABC" }}', "ABCß abc"),
        ('{{ title "hello wORLD foo_bar x-y" }}', "Hello WORLD Foo_bar X-Y"),
        ('{{ trim "  a b \\n" }}|{{ trim "\\x1fa" }}', "a b|\x1fa"),
        (
            '{{ trimPrefix "ab" "abc" }} {{ trimSuffix "bc" "abc" }} {{ trimAll "$" "$$5.00$" }}',
            "c a 5.00",
        ),
        ('{{ replace " " "-" "a b c" }}', "a-b-c"),
        ('{{ nospace " a b\\tc\\n" }}', "abc"),
        ('{{ repeat 3 "ab" }}', "ababab"),
        ("{{ indent 2 .text }}", "  line1\n  line2"),
        ("{{ .text | nindent 4 }}", "\n    line1\n    line2"),
        (
            '{{ contains "b" "abc" }} {{ hasPrefix "a" "abc" }} {{ hasSuffix "a" "abc" }}',
            "true true false",
        ),
        # lists, dicts and splitting
        ('{{ list 1 "a" }} {{ dict "k" "v" "n" 1 }} {{ dict "a" }}', "[1 a] map[k:v n:1] map[a:]"),
        ('{{ join "," (list "a" 1 nil "b") }} {{ join "," "x" }}', "a,1,b x"),
        (
            '{{ (split "$" "a$b")._0 }} {{ (split "$" "a$b")._1 }} '
            '{{ index (split "$" "a") "_9" }}|',
            "a b |",
        ),
        ('{{ splitList "," "a,b" }} {{ index (splitList "," "a,b") 1 }}', "[a b] b"),
        ('{{ "a:b:c" | splitList ":" | join "/" }}', "a/b/c"),
        # defaults and logic
        (
            '{{ default "d" "" }} {{ default "d" "x" }} {{ default "d" 0 }} '
            '{{ .missing | default "d" }}',
            "d x d d",
        ),
        (
            '{{ empty "" }} {{ empty (list) }} {{ empty 1 }} {{ empty .missing }}',
            "true true false true",
        ),
        ('{{ coalesce "" .missing "x" "y" }} {{ coalesce "" }}', "x <no value>"),
        ('{{ ternary "y" "n" false }} {{ true | ternary "y" "n" }}', "n y"),
        ('{{ cat "a" 1 nil "b" }}', "a 1 b"),
        ('{{ toString 1 | printf "%q" }} {{ toString "s" }}', '"1" s'),
    ],
)
def test_sprig_output(text: str, want: str) -> None:
    assert render(text) == want


@pytest.mark.parametrize(
    "name",
    ["env", "expandenv", "getHostByName", "randAlphaNum", "uuidv4", "now", "htpasswd", "fail"],
)
def test_removed_and_non_deterministic_functions_are_absent(name: str) -> None:
    assert name not in FUNCTIONS
    with pytest.raises(TemplateError, match=f'function "{name}" not defined'):
        render(f'{{{{ {name} "x" }}}}')


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ upper 1 }}", "wrong type for value; expected string; got int"),
        ('{{ indent "2" "x" }}', "wrong type for value; expected int; got string"),
        ('{{ "x" | ternary "y" "n" }}', "wrong type for value; expected bool; got string"),
        ('{{ repeat -1 "x" }}', "error calling repeat: strings: negative Repeat count"),
        ("{{ replace 1 }}", "wrong number of args for replace: want 3 got 1"),
    ],
)
def test_argument_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        render(text)


@given(st.text())
def test_to_json_is_json_without_html_characters(value: str) -> None:
    out = render("{{ toJson .v }}", {"v": value.encode()})
    assert json.loads(out) == value
    assert not {"<", ">", "&"} & set(out)


@given(st.binary())
def test_b64enc_b64dec_round_trip_exact_bytes(value: bytes) -> None:
    assert render_template("k", "{{ .v | b64enc | b64dec }}", {"v": value}) == value
