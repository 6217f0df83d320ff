"""Split a Go template into text and action tokens, as ``text/template/parse``'s lexer does.

Handled here because they are lexical in Go too: the delimiters (``{{``/``}}``, or others as Go's
``Template.Delims`` sets them: :data:`DEFAULT_DELIMITERS`), ``{{-``/``-}}`` trim markers (a dash
with a space beside it; ``{{-3}}`` is the number -3; with ``<<``/``>>`` they read ``<<- `` and
`` ->>``), comments ``{{/* */}}`` (only directly after the delimiter or trim marker), Go string
quoting (``"..."`` with escapes, raw ```...```, ``'c'``) and number syntax. Positions are
character offsets into the template, turned into line:column only when an error is reported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from sealbox.gotemplate.errors import TemplateError

DEFAULT_DELIMITERS: Final = ("{{", "}}")
"""Go's action delimiters; an empty string in a custom pair means the default, as in Go."""

KEYWORDS: Final = frozenset(
    {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}
)
_SPACE: Final = " \t\r\n"
_NUMBER: Final = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]*(?:\.[0-9a-fA-F_]*)?(?:[pP][+-]?[0-9_]+)?"
    r"|0[oObB][0-9_]+"
    r"|[0-9_]*\.?[0-9_]*(?:[eE][+-]?[0-9_]+)?)i?"
)
_WORD: Final = re.compile(r"[A-Za-z0-9_]*")
_ESCAPES: Final = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
}


@dataclass(frozen=True, slots=True)
class Token:
    """One lexeme of an action. ``kind`` is one of: field, dot, variable, ident, keyword, string,
    char, number, bool, nil, pipe, lparen, rparen, comma, declare, assign."""

    kind: str
    value: str
    pos: int
    space_before: bool


@dataclass(slots=True)
class Item:
    """Template text (``tokens`` empty, ``text`` set) or one action's tokens."""

    pos: int
    text: str | None = None
    tokens: list[Token] = field(default_factory=list)


def unquote(literal: str, pos: int, source: tuple[str, str]) -> str:
    """Go ``strconv.Unquote`` for a ``"..."``, ```...``` or ``'c'`` literal."""
    if literal[0] == "`":
        return literal[1:-1].replace("\r", "")
    quote, body, out, i = literal[0], literal[1:-1], [], 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        esc = body[i + 1] if i + 1 < len(body) else ""
        if esc in _ESCAPES or esc == quote:
            out.append(_ESCAPES.get(esc, esc))
            i += 2
        elif esc in ("x", "u", "U") or (esc in "01234567" and esc):
            width = {"x": 2, "u": 4, "U": 8}.get(esc, 3)
            start = i + 1 if esc in "01234567" else i + 2
            digits = body[start : start + width]
            base = 8 if esc in "01234567" else 16
            valid = "01234567" if base == 8 else "0123456789abcdefABCDEF"
            if len(digits) != width or any(d not in valid for d in digits):
                raise TemplateError.at(source, pos, "invalid syntax in quoted string")
            code = int(digits, base)
            if esc in "x01234567":
                if code > 255:
                    raise TemplateError.at(source, pos, "invalid syntax in quoted string")
                out.append(chr(code) if code < 0x80 else chr(0xDC00 + code))
            elif code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise TemplateError.at(source, pos, "invalid syntax in quoted string")
            else:
                out.append(chr(code))
            i = start + width
        else:
            raise TemplateError.at(source, pos, "invalid syntax in quoted string")
    return "".join(out)


def delimiters_or_default(delimiters: tuple[str, str]) -> tuple[str, str]:
    """``delimiters`` with an empty left or right replaced by Go's default (``Delims("", "")``)."""
    left, right = delimiters
    return left or DEFAULT_DELIMITERS[0], right or DEFAULT_DELIMITERS[1]


class _Lexer:
    def __init__(self, name: str, text: str, delimiters: tuple[str, str]) -> None:
        self.source = (name, text)
        self.text = text
        self.left, self.right = delimiters_or_default(delimiters)
        self.items: list[Item] = []

    def error(self, pos: int, message: str) -> TemplateError:
        return TemplateError.at(self.source, pos, message)

    def right_delim(self, i: int) -> tuple[int, bool] | None:
        """(length, trims) if a right delimiter starts at ``i``."""
        right = self.right
        if self.text.startswith(right, i):
            return len(right), False
        if (
            i < len(self.text)
            and self.text[i] in _SPACE
            and self.text.startswith("-" + right, i + 1)
        ):
            return len(right) + 2, True
        return None

    def run(self) -> list[Item]:
        text, i, trim_next = self.text, 0, False
        while True:
            j = text.find(self.left, i)
            chunk = text[i:] if j < 0 else text[i:j]
            if trim_next:
                chunk = chunk.lstrip(_SPACE)
            if j < 0:
                if chunk:
                    self.items.append(Item(i, text=chunk))
                return self.items
            k = j + len(self.left)
            if text.startswith("-", k) and k + 1 < len(text) and text[k + 1] in _SPACE:
                chunk = chunk.rstrip(_SPACE)
                k += 2
            if chunk:
                self.items.append(Item(i, text=chunk))
            if text.startswith("/*", k):
                i, trim_next = self.comment(j, k)
            else:
                i, trim_next = self.action(j, k)

    def comment(self, start: int, k: int) -> tuple[int, bool]:
        end = self.text.find("*/", k + 2)
        if end < 0:
            raise self.error(start, "unclosed comment")
        delim = self.right_delim(end + 2)
        if delim is None:
            raise self.error(start, "comment ends before closing delimiter")
        return end + 2 + delim[0], delim[1]

    def action(self, start: int, i: int) -> tuple[int, bool]:
        item = Item(start)
        self.items.append(item)
        text, space = self.text, True
        while True:
            if i >= len(text):
                raise self.error(start, "unclosed action")
            delim = self.right_delim(i)
            if delim is not None:
                return i + delim[0], delim[1]
            char = text[i]
            if char in _SPACE:
                space, i = True, i + 1
                continue
            token, i = self.token(i, space)
            item.tokens.append(token)
            space = False

    def token(self, i: int, space: bool) -> tuple[Token, int]:
        text, char = self.text, self.text[i]
        simple = {"|": "pipe", "(": "lparen", ")": "rparen", ",": "comma", "=": "assign"}
        if char in simple:
            return Token(simple[char], char, i, space), i + 1
        if text.startswith(":=", i):
            return Token("declare", ":=", i, space), i + 2
        if char in "\"'`":
            end = self.quoted_end(i, char)
            literal = text[i : end + 1]
            kind = {'"': "string", "`": "string", "'": "char"}[char]
            return Token(kind, unquote(literal, i, self.source), i, space), end + 1
        if char == "$":
            word = _WORD.match(text, i + 1)
            assert word is not None
            return Token("variable", "$" + word.group(), i, space), word.end()
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if char == "." and not nxt.isdigit():
            word = _WORD.match(text, i + 1)
            assert word is not None
            if word.group():
                return Token("field", word.group(), i, space), word.end()
            return Token("dot", ".", i, space), i + 1
        if char.isdigit() or (char in "+-." and (nxt.isdigit() or nxt == ".")):
            number = _NUMBER.match(text, i)
            assert number is not None
            end = number.end()
            if end == i or (end < len(text) and (text[end].isalnum() or text[end] in "._")):
                raise self.error(i, f"bad number syntax: {text[i : end + 1]!r}")
            return Token("number", number.group(), i, space), end
        if char.isalpha() or char == "_":
            word = _WORD.match(text, i)
            assert word is not None
            name = word.group()
            kind = "ident"
            if name in KEYWORDS:
                kind = "keyword"
            elif name in ("true", "false"):
                kind = "bool"
            elif name == "nil":
                kind = "nil"
            return Token(kind, name, i, space), word.end()
        raise self.error(i, f"unrecognized character in action: U+{ord(char):04X} {char!r}")

    def quoted_end(self, start: int, quote: str) -> int:
        text, i = self.text, start + 1
        while i < len(text):
            char = text[i]
            if char == quote:
                return i
            if quote == "`":
                i += 1
                continue
            if char == "\\":
                i += 2
                continue
            if char == "\n":
                break
            i += 1
        what = "raw quoted string" if quote == "`" else "quoted string"
        if quote == "'":
            what = "character constant"
        raise self.error(start, f"unterminated {what}")


def lex(name: str, text: str, delimiters: tuple[str, str] = DEFAULT_DELIMITERS) -> list[Item]:
    """The text and action items of template ``name``, its actions between ``delimiters``."""
    return _Lexer(name, text, delimiters).run()
