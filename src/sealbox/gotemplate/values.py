"""Go values as Python sees them, and how Go's ``fmt`` prints them.

Templates only ever see what JSON-like data and the functions produce: ``str``, ``int``,
``float``, ``bool``, ``None`` (Go ``nil``), ``list`` and ``dict``. Two Go distinctions matter for
output and are kept explicitly:

- :data:`MISSING` is Go's *invalid* ``reflect.Value``: what ``.missing`` yields on a map. It prints
  as ``<no value>`` and becomes ``nil`` when passed to a function taking ``interface{}``.
- :class:`StringMap` is a ``map[string]string`` (the template data, ``split``'s result): indexing a
  missing key gives ``""`` rather than ``nil``, which is why ``{{ index . "missing" }}`` prints
  nothing while ``{{ .missing }}`` prints ``<no value>``.

Strings carry Go's raw bytes: bytes that are not UTF-8 live as ``surrogateescape`` code points.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from typing import Any, Final


class _Missing:
    """The singleton type of :data:`MISSING`."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<no value>"


MISSING: Final = _Missing()


class StringMap(dict[str, str]):
    """A Go ``map[string]string``: a missing key indexes to ``""``."""


MAX_TEXT: Final = 1 << 20
"""The longest string a template may build: a whole Secret holds at most 1 MiB, and the bound
keeps an untrusted template from exhausting the controller's memory."""


class FuncError(Exception):
    """A template function failed; the evaluator adds ``error calling NAME:``."""


_REPLACEMENT = "\ufffd".encode()


def to_bytes(text: str) -> bytes:
    """The Go bytes of a template string.

    A byte that was not UTF-8 (kept as a ``surrogateescape`` character by :func:`from_bytes`)
    comes back as itself; any other lone surrogate (only a JSON ``\\ud800`` escape makes one)
    becomes U+FFFD, as Go's JSON decoder makes it.
    """
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return b"".join(
            bytes([ord(char) - 0xDC00])
            if "\udc80" <= char <= "\udcff"
            else _REPLACEMENT
            if "\ud800" <= char <= "\udfff"
            else char.encode()
            for char in text
        )


def from_bytes(data: bytes) -> str:
    """A template string holding exactly ``data`` (Go's ``string(b)``)."""
    return data.decode("utf-8", "surrogateescape")


def go_type(value: Any) -> str:
    """The Go type name used in error messages."""
    if value is MISSING or value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, StringMap):
        return "map[string]string"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    return type(value).__name__


def truth(value: Any) -> bool:
    """Go template truth: false, 0, nil and empty strings, lists and maps are false."""
    if value is MISSING or value is None:
        return False
    if isinstance(value, (bool, int, float, str, list, dict)):
        return bool(value)
    return True


def format_float(
    value: float, verb: str = "g", precision: int = -1, *, e_below: int = -4, e_from: int = 6
) -> str:
    """Go's ``%v``/``%g`` (shortest digits; exponent form below ``1e{e_below}`` or from
    ``1e{e_from}``: -4/6 for ``fmt``, -6/21 for ``encoding/json``) and ``%e``/``%f``."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if verb == "f":
        return f"{value:.{6 if precision < 0 else precision}f}"
    if verb == "e":
        return f"{value:.{6 if precision < 0 else precision}e}"
    if precision >= 0:
        return f"{value:.{max(precision, 1)}g}"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    if value == 0:
        return "-0" if sign else "0"
    text = "".join(str(d) for d in digits)
    point = len(text) + exponent  # position of the decimal point
    decimal_exponent = point - 1
    minus = "-" if sign else ""
    if decimal_exponent < e_below or decimal_exponent >= e_from:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return (
            f"{minus}{mantissa}e{'+' if decimal_exponent >= 0 else '-'}{abs(decimal_exponent):02d}"
        )
    if point <= 0:
        return f"{minus}0.{'0' * -point}{text}"
    if point >= len(text):
        return f"{minus}{text}{'0' * (point - len(text))}"
    return f"{minus}{text[:point]}.{text[point:]}"


def sprint_value(value: Any) -> str:
    """Go ``fmt``'s ``%v`` of one value."""
    if value is MISSING or value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        items = " ".join(f"{sprint_value(k)}:{sprint_value(value[k])}" for k in sorted(value))
        return f"map[{items}]"
    if isinstance(value, list):
        return "[" + " ".join(sprint_value(v) for v in value) + "]"
    return str(value)


def print_value(value: Any) -> str:
    """What ``{{ pipeline }}`` writes: ``<no value>`` for nil and missing values."""
    if value is MISSING or value is None:
        return "<no value>"
    return sprint_value(value)


def sprint(values: list[Any]) -> str:
    """Go ``fmt.Sprint``: a space between operands when neither is a string."""
    out: list[str] = []
    for i, value in enumerate(values):
        if i > 0 and not isinstance(value, str) and not isinstance(values[i - 1], str):
            out.append(" ")
        out.append(sprint_value(value))
    return "".join(out)


def _is_print(char: str) -> bool:
    return char == " " or unicodedata.category(char)[0] in "LMNPS"


_SIMPLE_ESCAPES: Final = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def go_quote(text: str, quote: str = '"') -> str:
    """Go ``strconv.Quote``: printable runes as they are, others escaped Go-style."""
    out = [quote]
    for char in text:
        code = ord(char)
        if char == quote or char == "\\":
            out.append("\\" + char)
        elif 0xDC80 <= code <= 0xDCFF:  # a raw byte that is not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif _is_print(char):
            out.append(char)
        elif char in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[char])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append(quote)
    return "".join(out)
