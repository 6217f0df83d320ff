"""The Sprig functions Sealed Secrets templates use, with Sprig's (Go) behaviour.

Upstream hands templates Sprig's ``GenericFuncMap`` minus ``env``, ``expandenv`` and
``getHostByName`` (removed for security); those three are absent here too. Left out on purpose:
the random and time functions (``randAlphaNum``, ``uuidv4``, ``now``...: a Secret must render the
same on every reconcile), ``htpasswd``/``bcrypt`` and the crypto generators (no bcrypt dependency;
salted output is non-deterministic anyway), and the rest of Sprig's long tail (math, lists beyond
``list``/``join``, semver, regex), and ``fail`` (its message, which may carry a value, would land
in the SealedSecret's status and events). An unknown name fails at parse time, naming it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any, Final

from sealbox.gotemplate.functions import Func
from sealbox.gotemplate.gojson import marshal
from sealbox.gotemplate.values import (
    MAX_TEXT,
    FuncError,
    StringMap,
    from_bytes,
    go_quote,
    sprint_value,
    to_bytes,
    truth,
)

_B64: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def strval(value: Any) -> str:
    """Sprig's ``strval``: strings as they are, anything else as Go's ``%v``."""
    return value if isinstance(value, str) else sprint_value(value)


def _strslice(value: Any) -> list[str]:
    if isinstance(value, list):
        return [strval(v) for v in value if v is not None]
    if value is None:
        return []
    return [strval(value)]


def _is_space(char: str) -> bool:
    """Go ``unicode.IsSpace`` (Python also counts U+001C..U+001F, Go does not)."""
    return char.isspace() and char not in "\x1c\x1d\x1e\x1f"


def _trim_space(text: str) -> str:
    start, end = 0, len(text)
    while start < end and _is_space(text[start]):
        start += 1
    while end > start and _is_space(text[end - 1]):
        end -= 1
    return text[start:end]


def _map_runes(text: str, upper: bool) -> str:
    out = []
    for char in text:
        mapped = char.upper() if upper else char.lower()
        out.append(mapped if len(mapped) == 1 else char)
    return "".join(out)


def _is_separator(char: str) -> bool:
    if char.isascii():
        return not (char.isalnum() or char == "_")
    if char.isalpha() or char.isdigit():
        return False
    return _is_space(char)


def _title(text: str) -> str:
    """Go ``strings.Title``: the first letter of each word upper-cased, the rest unchanged."""
    out, prev = [], " "
    for char in text:
        titled = char.title() if _is_separator(prev) else char
        out.append(titled if len(titled) == 1 else char)
        prev = char
    return "".join(out)


def _b64dec(text: str) -> str:
    try:
        return from_bytes(base64.b64decode(text.replace("\r", "").replace("\n", ""), validate=True))
    except (binascii.Error, ValueError):
        pass
    # Sprig returns the error text as the value; the offset approximates Go's CorruptInputError.
    bad = next((i for i, c in enumerate(text) if c not in _B64 and c not in "=\r\n"), None)
    if bad is None:
        pad = text.find("=")
        bad = pad if pad >= 0 else len(text) - len(text) % 4
    return f"illegal base64 data at input byte {bad}"


def _split(sep: str, text: str) -> list[str]:
    if sep:
        return text.split(sep)
    return list(text)


def _dict(*args: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(args), 2):
        out[strval(args[i])] = args[i + 1] if i + 1 < len(args) else ""
    return out


def _default(default: Any, *given: Any) -> Any:
    if not given or not truth(given[0]):
        return default
    return given[0]


def _to_json(value: Any, indent: str = "") -> str:
    try:
        return marshal(value, indent)
    except FuncError:
        return ""  # Sprig ignores json.Marshal's error


def _bounded(size: int) -> None:
    if size > MAX_TEXT:
        raise FuncError("result larger than a Secret can hold (1 MiB)")


def _repeat(count: int, text: str) -> str:
    if count < 0:
        raise FuncError("strings: negative Repeat count")
    _bounded(count * len(text))
    return text * count


def _indent(spaces: int, text: str) -> str:
    spaces = max(spaces, 0)
    _bounded(spaces * (text.count("\n") + 1) + len(text))
    pad = " " * spaces
    return pad + text.replace("\n", "\n" + pad)


def _replace(old: str, new: str, text: str) -> str:
    matches = text.count(old) if old else len(text) + 1
    _bounded(len(text) + matches * (len(new) - len(old)))
    return text.replace(old, new)


def _digest(name: str) -> Func:
    return Func(lambda s: hashlib.new(name, to_bytes(s)).hexdigest(), ("str",))


SPRIG: Final[dict[str, Func]] = {
    "toJson": Func(_to_json, ("any",)),
    "toPrettyJson": Func(lambda v: _to_json(v, "  "), ("any",)),
    "quote": Func(lambda *a: " ".join(go_quote(strval(v)) for v in a if v is not None), (), "any"),
    "squote": Func(lambda *a: " ".join(f"'{strval(v)}'" for v in a if v is not None), (), "any"),
    "b64enc": Func(lambda s: base64.b64encode(to_bytes(s)).decode("ascii"), ("str",)),
    "b64dec": Func(_b64dec, ("str",)),
    "b32enc": Func(lambda s: base64.b32encode(to_bytes(s)).decode("ascii"), ("str",)),
    "upper": Func(lambda s: _map_runes(s, True), ("str",)),
    "lower": Func(lambda s: _map_runes(s, False), ("str",)),
    "title": Func(_title, ("str",)),
    "trim": Func(_trim_space, ("str",)),
    "trimPrefix": Func(lambda p, s: s[len(p) :] if s.startswith(p) else s, ("str", "str")),
    "trimSuffix": Func(
        lambda p, s: s[: len(s) - len(p)] if p and s.endswith(p) else s, ("str", "str")
    ),
    "trimAll": Func(lambda cut, s: s.strip(cut) if cut else s, ("str", "str")),
    "replace": Func(_replace, ("str", "str", "str")),
    "nospace": Func(lambda s: "".join(c for c in s if not _is_space(c)), ("str",)),
    "repeat": Func(_repeat, ("int", "str")),
    "indent": Func(_indent, ("int", "str")),
    "nindent": Func(lambda n, s: "\n" + _indent(n, s), ("int", "str")),
    "contains": Func(lambda sub, s: sub in s, ("str", "str")),
    "hasPrefix": Func(lambda p, s: s.startswith(p), ("str", "str")),
    "hasSuffix": Func(lambda p, s: s.endswith(p), ("str", "str")),
    "split": Func(
        lambda sep, s: StringMap((f"_{i}", v) for i, v in enumerate(_split(sep, s))),
        ("str", "str"),
    ),
    "splitList": Func(_split, ("str", "str")),
    "join": Func(lambda sep, v: sep.join(_strslice(v)), ("str", "any")),
    "default": Func(_default, ("any",), "any"),
    "empty": Func(lambda v: not truth(v), ("any",)),
    "coalesce": Func(lambda *a: next((v for v in a if truth(v)), None), (), "any"),
    "ternary": Func(lambda vt, vf, cond: vt if cond else vf, ("any", "any", "bool")),
    "list": Func(lambda *a: list(a), (), "any"),
    "dict": Func(_dict, (), "any"),
    "cat": Func(lambda *a: " ".join(sprint_value(v) for v in a if v is not None), (), "any"),
    "toString": Func(strval, ("any",)),
    "sha256sum": _digest("sha256"),
    "sha1sum": _digest("sha1"),
    "sha512sum": _digest("sha512"),
}
