"""The template language behaves as Go's ``text/template`` does for the documented subset: each
expected output below is what Go prints for the same template and data (Go 1.22+ semantics:
lazy ``and``/``or``, ``range`` over an integer, ``break``/``continue``)."""

from __future__ import annotations

import pytest

from sealbox.gotemplate import StringMap, Template
from sealbox.sealing import TemplateError, render_template

DATA = {"foo": b"bar", "user": b"admin", "html": b"<a&b>"}


def render(text: str, data: dict[str, bytes] | None = None) -> str:
    return render_template("k", text, DATA if data is None else data).decode()


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("plain text, no actions", "plain text, no actions"),
        ('secret {{ index . "foo" }} !', "secret bar !"),
        ("{{ .foo }}", "bar"),
        ("{{ .missing }}", "<no value>"),
        ('{{ index . "missing" }}', ""),
        ("{{ .missing.deeper }}", "<no value>"),
        ("{{ $.foo }}", "bar"),
        ("{{ . }}", "map[foo:bar html:<a&b> user:admin]"),
        # trim markers and comments
        ("a \n {{- .foo -}} \n b", "abarb"),
        ("{{-3}}", "-3"),
        ("a{{/* a comment */}}b", "ab"),
        ("a {{- /* trimmed\ncomment */ -}} b", "ab"),
        # literals: Go quoting and number syntax
        (r'{{ "tab\there\u00e9\x41\101" }}', "tab\thereéAA"),
        (r"{{ `raw\n` }}", r"raw\n"),
        ("{{ `multi\nline` }}", "multi\nline"),
        ("{{ 'a' }}", "97"),
        ("{{ 1e6 }} {{ 0.000001 }} {{ 100000.0 }} {{ 1.5 }} {{ 1.0 }}", "1e+06 1e-06 100000 1.5 1"),
        ("{{ 0x1F }} {{ 0o17 }} {{ 017 }} {{ 0b101 }} {{ 1_000 }} {{ +7 }}", "31 15 15 5 1000 7"),
        ("{{ true }} {{ false }}", "true false"),
        # pipelines and parentheses
        ('{{ .foo | printf "%s-%s" "x" }}', "x-bar"),
        ('{{ (dict "a" (dict "b" "c")).a.b }}', "c"),
        ('{{ printf "%s" (index . "foo") | len }}', "3"),
        # if / else if / else, with
        ('{{ if eq .foo "bar" }}yes{{ else }}no{{ end }}', "yes"),
        ("{{ if .missing }}a{{ else if .foo }}b{{ else }}c{{ end }}", "b"),
        ('{{ if "" }}a{{ else if 0 }}b{{ else }}c{{ end }}', "c"),
        ("{{ with .foo }}[{{ . }}]{{ end }}", "[bar]"),
        ("{{ with .missing }}x{{ else }}none{{ end }}", "none"),
        ("{{ with $x := .user }}{{ $x }}{{ end }}", "admin"),
        # range
        ("{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}", "foo=bar;html=<a&b>;user=admin;"),
        ('{{ range $i, $e := list "a" "b" }}{{ $i }}{{ $e }}{{ end }}', "0a1b"),
        ('{{ range list "a" "b" }}<{{ . }}{{ $.foo }}>{{ end }}', "<abar><bbar>"),
        ("{{ range $x := list 1 2 }}{{ $x }}{{ end }}", "12"),
        ("{{ range list }}x{{ else }}empty{{ end }}", "empty"),
        ("{{ range .missing }}x{{ else }}nothing{{ end }}", "nothing"),
        ("{{ range 3 }}{{ . }}{{ end }}", "012"),
        ("{{ range $i := 5 }}{{ if eq $i 3 }}{{ break }}{{ end }}{{ $i }}{{ end }}", "012"),
        ("{{ range $i := 4 }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $i }}{{ end }}", "023"),
        # variables
        ('{{ $x := "a" }}{{ $x = "b" }}{{ $x }}', "b"),
        ("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", "2"),
        ("{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}", "21"),
        # predefined functions
        ('{{ and 1 2 }} {{ and 0 2 }} {{ or 0 "" "x" }} {{ not "" }}', "2 0 x true"),
        ("{{ or .foo (index 1 2) }}", "bar"),  # lazy: the failing index is never called
        ('{{ eq "a" "b" "a" }} {{ ne .foo "bar" }} {{ eq .missing "x" }}', "true false false"),
        ('{{ lt 1 2 }} {{ le 2 2 }} {{ gt "b" "a" }} {{ ge 1.5 2.5 }}', "true true true false"),
        ('{{ len "héllo" }} {{ len (list 1 2) }} {{ len . }}', "6 2 3"),
        ('{{ index (list "a" "b") 1 }} {{ index (dict "a" (list 7)) "a" 0 }}', "b 7"),
        ('{{ index (dict) "x" }}', "<no value>"),
        ('{{ print 1 2 "a" 3 "b" "c" }}', "1 2a3bc"),
        ('{{ println "a" 1 }}', "a 1\n"),
        ('{{ html "<\'\\"&>" }}', "&lt;&#39;&#34;&amp;&gt;"),
        ('{{ js "a\'\\"<=>&\\\\" }}', "a\\'\\\"\\u003C\\u003D\\u003E\\u0026\\\\"),
        ('{{ urlquery "a b&c=d/é" }}', "a+b%26c%3Dd%2F%C3%A9"),
        # printf verbs
        (
            '{{ printf "%5s|%-5s|%05d|%x|%X|%q|%v|%t" "ab" "cd" 42 255 "hi" "x\\n" 1.5 true }}',
            '   ab|cd   |00042|ff|6869|"x\\n"|1.5|true',
        ),
        (
            '{{ printf "%.2f %e %g %+d %o %b %c %%" 3.14159 1000.0 0.5 3 8 5 65 }}',
            "3.14 1.000000e+03 0.5 +3 10 101 A %",
        ),
        (
            '{{ printf "%d" "x" }}|{{ printf "%s" }}|{{ printf "a" 1 }}|{{ printf "%s" nil }}',
            "%!d(string=x)|%!s(MISSING)|a%!(EXTRA int=1)|%!s(<nil>)",
        ),
        ('{{ printf "%v %v %T" (list 1 "a") (dict "k" 2) "s" }}', "[1 a] map[k:2] string"),
    ],
)
def test_go_semantics(text: str, want: str) -> None:
    assert render(text) == want


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ nosuch }}", 'k:1:4: function "nosuch" not defined'),
        ("line\n{{ .foo | upper 1 }}", 'k:2:11: executing "k": wrong number of args for upper'),
        ("{{ if }}", "missing value for if"),
        ("{{ .foo", "unclosed action"),
        ("{{ if .foo }}x", "unexpected EOF"),
        ("{{ end }}", "unexpected {{end}}"),
        ("{{ else }}", "unexpected {{else}}"),
        ('{{ .foo | "x" }}', "non executable command in pipeline stage 2"),
        ("{{ $y }}", 'undefined variable "$y"'),
        ("{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}", 'undefined variable "$y"'),
        ("{{ $y = 1 }}", 'undefined variable "$y"'),
        ("{{ break }}", "{{break}} outside {{range}}"),
        ('{{ "a""b" }}', "missing space?"),
        ("{{ 3x }}", "bad number syntax"),
        ("{{ 09 }}", "illegal number syntax"),
        ('{{ "\\q" }}', "invalid syntax in quoted string"),
        ('{{ "\\\'" }}', "invalid syntax in quoted string"),
        ('{{ "abc\n" }}', "unterminated quoted string"),
        ("{{ `abc }}", "unterminated raw quoted string"),
        ("{{ 'ab' }}", "malformed character constant"),
        ("{{/* x */ }}", "comment ends before closing delimiter"),
        ("{{/* x ", "unclosed comment"),
        ("{{ @ }}", "unrecognized character in action"),
        ("{{ (1 }}", "unclosed left paren"),
        ("{{}}", "missing value for command"),
        ("{{ nil }}", "nil is not a command"),
        ("{{ .foo 1 }}", "foo is not a method but has arguments"),
        ("{{ 1 2 }}", "can't give argument to non-function"),
        ("{{ .foo.bar }}", "can't evaluate field bar in type string"),
        ("{{ index . 1 }}", "error calling index: value has type int; should be string"),
        ("{{ index (list 1) 5 }}", "error calling index: index out of range: 5"),
        ('{{ eq 1 "1" }}', "incompatible types for comparison"),
        ("{{ lt true false }}", "invalid type for comparison"),
        ("{{ len 3 }}", "error calling len: len of type int"),
        ("{{ range .foo }}{{ end }}", "range can't iterate over a string"),
        ("{{ upper .missing }}", "invalid value; expected string"),
        ('{{ template "x" }}', "{{template}} is not supported"),
        ('{{ define "x" }}y{{ end }}', "{{define}} is not supported"),
        ("{{ range $a, $b := . }}{{ end }}{{ if $a, $b := . }}{{ end }}", "too many declarations"),
    ],
)
def test_errors_name_key_and_position(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(text)
    assert str(caught.value).startswith("template: k:")
    assert message in str(caught.value)


def test_an_error_never_carries_a_value() -> None:
    secret = b"pa55w0rd-value"
    for text in ("{{ indent .pw .pw }}", "{{ range .pw }}{{ end }}", "{{ .pw.x }}", "{{ len 1 }}"):
        with pytest.raises(TemplateError) as caught:
            render_template("k", text, {"pw": secret})
        assert secret.decode() not in str(caught.value)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    text = "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"
    with pytest.raises(TemplateError, match="nested too deeply"):
        render(text)


def test_output_is_bounded() -> None:
    with pytest.raises(TemplateError, match="1 MiB"):
        render('{{ range 2000 }}{{ repeat 1000 "x" }}{{ end }}')


def test_a_parsed_template_runs_on_any_data() -> None:
    template = Template.parse("k", '{{ .a }}/{{ index . "b" }}')
    assert template.execute(StringMap(a="1", b="2")) == "1/2"
    assert template.execute(StringMap()) == "<no value>/"
    assert template.execute({"a": "x"}) == "x/<no value>"  # map[string]interface{}: nil


@pytest.mark.parametrize(
    "text",
    [
        "{{ range 100000000 }}{{ end }}",
        '{{ repeat 1000000000 "xxxxxxxxxx" }}',
        '{{ indent 1000000000 "x" }}',
        '{{ replace "x" (repeat 1000 "y") (repeat 2000 "x") }}',
        '{{ printf "%1000000000d" 1 }}{{ printf "%1000000000d" 1 }}',
        '{{ $x := "ab" }}{{ range 40 }}{{ $x = print $x $x }}{{ end }}',
    ],
)
def test_an_untrusted_template_cannot_exhaust_the_controller(text: str) -> None:
    """CPU and memory stay bounded: a Secret holds at most 1 MiB, so nothing bigger is built."""
    with pytest.raises(TemplateError, match=r"1 MiB|steps"):
        render(text)
