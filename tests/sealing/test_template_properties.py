"""Whatever text a SealedSecret carries in ``spec.template.data``, the engine answers with bytes
or a TemplateError: never another exception, never a hang (the controller renders untrusted
templates)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sealbox.sealing import TemplateError, render_template

_PIECES = st.sampled_from(
    [
        "{{",
        "}}",
        "{{- ",
        " -}}",
        "/*",
        "*/",
        "|",
        "(",
        ")",
        ".",
        "$",
        "$x",
        ":=",
        "=",
        ",",
        '"',
        "`",
        "'",
        "\\",
        " ",
        "\n",
        "-",
        "1",
        "1.5",
        "0x",
        "e",
        "a",
        ".a",
        ".b.c",
        "if",
        "else",
        "end",
        "range",
        "with",
        "break",
        "continue",
        "define",
        "nil",
        "true",
        "index",
        "printf",
        "%",
        "%d",
        "toJson",
        "default",
        "dict",
        "list",
        "len",
        "eq",
        "and",
        "not",
        "indent",
        "upper",
        "quote",
        "split",
        "join",
    ]
)
_TEMPLATES = st.lists(_PIECES, max_size=25).map("".join) | st.text(max_size=60)
_VALUES = st.dictionaries(st.sampled_from(["a", "b", "x"]), st.binary(max_size=20), max_size=3)


@settings(max_examples=600, deadline=None)
@given(text=_TEMPLATES, values=_VALUES)
def test_any_text_renders_or_raises_template_error(text: str, values: dict[str, bytes]) -> None:
    message = "template: k"
    try:
        out = render_template("k", text, values)
    except TemplateError as error:
        message = str(error)
    else:
        assert isinstance(out, bytes)
    assert message.startswith("template: k")


@given(st.text().filter(lambda t: "{{" not in t))
def test_text_without_actions_renders_as_itself(text: str) -> None:
    assert render_template("k", text, {}) == text.encode()


@given(
    st.text(
        alphabet=st.characters(blacklist_characters="`", blacklist_categories=["Cs"]), max_size=40
    )
)
def test_a_raw_string_prints_itself(text: str) -> None:
    assert render_template("k", "{{ `" + text + "` }}", {}) == text.replace("\r", "").encode()


def test_a_lone_surrogate_in_a_template_prints_as_the_replacement_character() -> None:
    # Only a JSON escape such as "\ud800" puts one in a template; Go decodes it to U+FFFD.
    assert render_template("k", "a\ud800b{{ `\udfff` }}", {}) == "a\ufffdb\ufffd".encode()


@given(st.binary(max_size=64))
def test_a_value_prints_as_its_exact_bytes(value: bytes) -> None:
    assert render_template("k", '{{ .v }}{{ printf "%s" .v }}', {"v": value}) == value * 2
