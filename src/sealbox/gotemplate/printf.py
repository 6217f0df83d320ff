"""Go ``fmt.Sprintf`` for the verbs templates use: ``%v %s %d %q %x %X %o %b %c %f %e %g %t
%T %%`` with flags ``-+# 0``, width and precision. Wrong types and argument counts render the
way Go renders them (``%!d(string=x)``, ``%!s(MISSING)``, ``%!(EXTRA ...)``) instead of failing.
Not supported: explicit argument indexes (``%[1]d``) and ``*`` widths."""

from __future__ import annotations

import re
from typing import Any, Final

from sealbox.gotemplate.values import (
    MAX_TEXT,
    MISSING,
    format_float,
    go_quote,
    go_type,
    sprint_value,
    to_bytes,
)

_SPEC: Final = re.compile(r"%([-+# 0]*)([0-9]+)?(?:\.([0-9]*))?(.)?", re.DOTALL)


def _bad(verb: str, value: Any) -> str:
    if value is None or value is MISSING:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({go_type(value)}={sprint_value(value)})"


def _integer(value: int, verb: str, flags: str, precision: int | None) -> str:
    base = {"d": 10, "x": 16, "X": 16, "o": 8, "b": 2}[verb]
    digits = format(abs(value), {10: "d", 16: "x", 8: "o", 2: "b"}[base])
    if verb == "X":
        digits = digits.upper()
    if precision is not None:
        digits = digits.rjust(precision, "0") if precision else digits.lstrip("0")
    if "#" in flags:
        digits = {16: "0x" if verb == "x" else "0X", 8: "0", 2: "0b", 10: ""}[base] + digits
    sign = "-" if value < 0 else "+" if "+" in flags else " " if " " in flags else ""
    return sign + digits


def _one(verb: str, flags: str, precision: int | None, value: Any) -> str | None:
    """The text for one verb, or None when the value's type does not fit it."""
    if verb == "T":
        return go_type(value)
    if verb == "v":
        return sprint_value(value)
    if isinstance(value, bool):
        return ("true" if value else "false") if verb == "t" else None
    if isinstance(value, int):
        if verb in "dxXob":
            return _integer(value, verb, flags, precision)
        if verb == "c":
            return chr(value) if 0 <= value <= 0x10FFFF else "\ufffd"
        if verb == "q":
            return go_quote(chr(value), "'") if 0 <= value <= 0x10FFFF else "'\ufffd'"
        if verb in "efg":
            return format_float(float(value), verb, -1 if precision is None else precision)
        return None
    if isinstance(value, float):
        if verb in "efgEG":
            text = format_float(value, verb.lower(), -1 if precision is None else precision)
            return text.upper() if verb in "EG" else text
        return None
    if isinstance(value, str):
        if verb == "s":
            return value if precision is None else value[:precision]
        if verb == "q":
            return go_quote(value)
        if verb in "xX":
            text = to_bytes(value).hex()
            return text.upper() if verb == "X" else text
        return None
    if value is None or value is MISSING:
        return None
    if verb == "s":
        return sprint_value(value)
    return None


def sprintf(fmt: str, args: list[Any]) -> str:
    """Go ``fmt.Sprintf(fmt, args...)``."""
    out: list[str] = []
    i = used = 0
    while i < len(fmt):
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        match = _SPEC.match(fmt, j)
        assert match is not None
        flags, width, prec, verb = match.groups()
        i = match.end()
        if verb is None:
            out.append("%!(NOVERB)")
            break
        if verb == "%":
            out.append("%")
            continue
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        value = args[used]
        used += 1
        precision = None if prec is None else min(int(prec or 0), MAX_TEXT)
        text = _one(verb, flags, precision, value)
        if text is None:
            text = _bad(verb, value)
        if width:
            pad = "0" if "0" in flags and "-" not in flags and verb not in "sqvT" else " "
            size = min(int(width), MAX_TEXT)
            if "-" in flags:
                text = text.ljust(size)
            elif pad == "0" and text[:1] in "+- ":
                text = text[0] + text[1:].rjust(size - 1, "0")
            else:
                text = text.rjust(size, pad)
        out.append(text)
    if used < len(args):
        extra = ", ".join(f"{go_type(a)}={sprint_value(a)}" for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
