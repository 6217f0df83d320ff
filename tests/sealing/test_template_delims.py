"""Custom action delimiters, as Go's ``Template.Delims(left, right)``: each expected output is
what Go prints for the same template, delimiters and data. Trim markers and comments sit inside
the custom delimiters; text holding the default ``{{ }}`` is plain text; an empty delimiter means
Go's default."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealbox.gotemplate import StringMap, Template, TemplateError

DATA = StringMap([("password", "s3cr3t"), ("db-pass", "p4ss"), ("user", "admin")])
ANGLE = ("<<", ">>")
SQUARE = ("[[", "]]")


def render(text: str, delimiters: tuple[str, str]) -> str:
    return Template.parse("k", text, delimiters=delimiters).execute(DATA)


@pytest.mark.parametrize(
    ("text", "delimiters", "want"),
    [
        ("<< .password >>", ANGLE, "s3cr3t"),
        ('<< index . "db-pass" >>', ANGLE, "p4ss"),
        ("[[ .user ]]:[[ .password | upper ]]", SQUARE, "admin:S3CR3T"),
        ('[[ index . "db-pass" | b64enc ]]', SQUARE, "cDRzcw=="),
        # the default delimiters are plain text
        ("{{ .password }} << .user >>", ANGLE, "{{ .password }} admin"),
        ("{{ not a template }}", SQUARE, "{{ not a template }}"),
        ("{{- .x -}}", SQUARE, "{{- .x -}}"),
        # trim markers inside custom delimiters
        ("a \n <<- .user ->> \n b", ANGLE, "aadminb"),
        ("a [[- .user ]] b", SQUARE, "aadmin b"),
        ("a [[ .user -]] b", SQUARE, "a adminb"),
        ("<<-3>>", ANGLE, "-3"),
        # comments
        ("a<</* a comment */>>b", ANGLE, "ab"),
        ("a <<- /* trimmed\ncomment */ ->> b", ANGLE, "ab"),
        # a right delimiter inside a string is part of the string
        ('<< ">>" >>', ANGLE, ">>"),
        ("[[ `]]` ]]", SQUARE, "]]"),
        # control flow
        ('<< if eq .user "admin" >>yes<< else >>no<< end >>', ANGLE, "yes"),
        ("[[ range $k, $v := . ]][[ $k ]];[[ end ]]", SQUARE, "db-pass;password;user;"),
        # same left and right, longer delimiters
        ("%% .user %%", ("%%", "%%"), "admin"),
        ("<%= .user %>", ("<%=", "%>"), "admin"),
        # an empty delimiter is Go's default
        ("{{ .user }}", ("", ""), "admin"),
        ("{{ .user >>", ("", ">>"), "admin"),
        ("<< .user }}", ("<<", ""), "admin"),
    ],
)
def test_custom_delimiters_render_as_go(text: str, delimiters: tuple[str, str], want: str) -> None:
    assert render(text, delimiters) == want


def test_default_delimiters_unchanged() -> None:
    assert Template.parse("k", "{{ .user }} << .user >>").execute(DATA) == "admin << .user >>"


@pytest.mark.parametrize(
    ("text", "delimiters", "where", "message"),
    [
        ("ok\n  << .user", ANGLE, "template: k:2:3:", "unclosed action"),
        ("<< nope >>", ANGLE, "template: k:1:4:", 'function "nope" not defined'),
        ("x [[/* never closed ]]", SQUARE, "template: k:1:3:", "unclosed comment"),
        ("[[ if .user ]]", SQUARE, "template: k:1:1:", "{{end}}"),
        ("<< .user }}", ANGLE, "template: k:1:", "unrecognized character"),
    ],
)
def test_errors_name_the_position(
    text: str, delimiters: tuple[str, str], where: str, message: str
) -> None:
    with pytest.raises(TemplateError) as caught:
        Template.parse("k", text, delimiters=delimiters)
    assert str(caught.value).startswith(where)
    assert message in str(caught.value)


def test_execution_errors_keep_the_position() -> None:
    template = Template.parse("k", "ab\n<< index . 1 >>", delimiters=ANGLE)
    with pytest.raises(TemplateError, match=r"^template: k:2:4:"):
        template.execute(DATA)


_PLAIN = st.text(alphabet=st.characters(blacklist_characters="<>"), max_size=40)


@given(before=_PLAIN, after=_PLAIN)
def test_text_outside_custom_delimiters_is_kept(before: str, after: str) -> None:
    assert render(f"{before}<< .user >>{after}", ANGLE) == f"{before}admin{after}"
