"""Go ``encoding/json.Marshal``/``MarshalIndent`` output, byte for byte, for template values.

It differs from :mod:`json` where Sprig's ``toJson`` users can see it: ``<``, ``>``, ``&``,
U+2028 and U+2029 are escaped as ``\\u003c`` etc.; invalid UTF-8 becomes U+FFFD; map keys are
sorted; floats use Go's shortest form (``3`` not ``3.0``, ``1e+21``, ``1e-7``).
"""

from __future__ import annotations

from typing import Any, Final

from sealbox.gotemplate.values import MISSING, FuncError, format_float

_ESCAPES: Final = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _string(text: str) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif code < 0x20:
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:  # a byte that is not UTF-8
            out.append("\ufffd")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _float(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        raise FuncError(f"json: unsupported value: {format_float(value)}")
    text = format_float(value, e_below=-6, e_from=21)
    if "e-0" in text:  # Go writes 1e-7, not 1e-07
        text = text.replace("e-0", "e-")
    return text


def marshal(value: Any, indent: str = "", _level: int = 0) -> str:
    """Go's JSON for ``value``; ``indent`` as ``MarshalIndent(v, "", indent)``."""
    if value is None or value is MISSING:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, (list, dict)):
        pairs = (
            [(_string(str(k)) + (": " if indent else ":"), value[k]) for k in sorted(value)]
            if isinstance(value, dict)
            else [("", v) for v in value]
        )
        open_, close = "{}" if isinstance(value, dict) else "[]"
        if not pairs:
            return open_ + close
        parts = [key + marshal(v, indent, _level + 1) for key, v in pairs]
        if not indent:
            return open_ + ",".join(parts) + close
        inner = "\n" + indent * (_level + 1)
        return open_ + inner + ("," + inner).join(parts) + "\n" + indent * _level + close
    raise FuncError(f"json: unsupported type: {type(value).__name__}")
