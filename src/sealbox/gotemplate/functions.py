"""How a template function is described, and Go's predefined functions (``text/template``'s
``builtins``): ``and or not len index print printf println eq ne lt le gt ge html js urlquery``.

Each function declares Go parameter kinds (``any``, ``str``, ``int``, ``bool``) so that the
evaluator can refuse arguments exactly where Go's reflection would (``wrong type for value;
expected string; got int``).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from sealbox.gotemplate.printf import sprintf
from sealbox.gotemplate.values import (
    MISSING,
    FuncError,
    StringMap,
    go_type,
    sprint,
    to_bytes,
    truth,
)


@dataclass(frozen=True, slots=True)
class Func:
    """A callable with Go parameter kinds; ``variadic`` is the kind of a trailing ``...``."""

    fn: Callable[..., Any]
    params: tuple[str, ...] = ()
    variadic: str | None = None


def _index(item: Any, *indexes: Any) -> Any:
    for index in indexes:
        if item is None or item is MISSING:
            raise FuncError("index of untyped nil")
        if isinstance(item, dict):
            if not isinstance(index, str):
                raise FuncError(f"value has type {go_type(index)}; should be string")
            default = "" if isinstance(item, StringMap) else None
            item = item.get(index, default)
        elif isinstance(item, (list, str)):
            if not isinstance(index, int) or isinstance(index, bool):
                raise FuncError(f"cannot index slice/array with type {go_type(index)}")
            seq = to_bytes(item) if isinstance(item, str) else item
            if not 0 <= index < len(seq):
                raise FuncError(f"index out of range: {index}")
            item = seq[index]
        else:
            raise FuncError(f"can't index item of type {go_type(item)}")
    return item


def _len(item: Any) -> int:
    if isinstance(item, str):
        return len(to_bytes(item))
    if isinstance(item, (list, dict)):
        return len(item)
    raise FuncError(f"len of type {go_type(item)}")


def _kind(value: Any) -> str:
    if value is None or value is MISSING:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "other"


def _eq(first: Any, *others: Any) -> bool:
    if not others:
        raise FuncError("missing argument for comparison")
    for other in others:
        k1, k2 = _kind(first), _kind(other)
        if "nil" in (k1, k2):
            if k1 == k2:
                return True
            continue
        if k1 != k2:
            raise FuncError("incompatible types for comparison")
        if k1 == "other":
            raise FuncError(f"non-comparable type {go_type(first)}")
        if first == other:
            return True
    return False


def _ordered(first: Any, second: Any) -> tuple[Any, Any]:
    k1, k2 = _kind(first), _kind(second)
    if k1 not in ("int", "float", "string") or k2 not in ("int", "float", "string"):
        raise FuncError("invalid type for comparison")
    if k1 != k2:
        raise FuncError("incompatible types for comparison")
    if k1 == "string":
        return to_bytes(first), to_bytes(second)
    return first, second


def _lt(a: Any, b: Any) -> bool:
    x, y = _ordered(a, b)
    return bool(x < y)


def _le(a: Any, b: Any) -> bool:
    x, y = _ordered(a, b)
    return bool(x <= y)


def _args_text(args: tuple[Any, ...]) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint(list(args))


_HTML: Final = {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&#34;", "'": "&#39;", "\0": "\ufffd"}
_JS: Final = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "<": "\\u003C",
    ">": "\\u003E",
    "&": "\\u0026",
    "=": "\\u003D",
}


def _html(*args: Any) -> str:
    return "".join(_HTML.get(c, c) for c in _args_text(args))


def _js(*args: Any) -> str:
    out = []
    for char in _args_text(args):
        if char in _JS:
            out.append(_JS[char])
        elif ord(char) < 0x20:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    return "".join(out)


def _urlquery(*args: Any) -> str:
    return urllib.parse.quote_plus(to_bytes(_args_text(args)), safe="-_.~")


def _and_or(*args: Any) -> Any:  # evaluated lazily by the evaluator; never called
    raise AssertionError("and/or are evaluated by the evaluator")


BUILTINS: Final[dict[str, Func]] = {
    "and": Func(_and_or, ("any",), "any"),
    "or": Func(_and_or, ("any",), "any"),
    "not": Func(lambda v: not truth(v), ("any",)),
    "len": Func(_len, ("any",)),
    "index": Func(_index, ("any",), "any"),
    "print": Func(lambda *a: sprint(list(a)), (), "any"),
    "printf": Func(lambda f, *a: sprintf(f, list(a)), ("str",), "any"),
    "println": Func(lambda *a: " ".join(_args_text((v,)) for v in a) + "\n", (), "any"),
    "eq": Func(_eq, ("any",), "any"),
    "ne": Func(lambda a, b: not _eq(a, b), ("any", "any")),
    "lt": Func(_lt, ("any", "any")),
    "le": Func(_le, ("any", "any")),
    "gt": Func(lambda a, b: not _le(a, b), ("any", "any")),
    "ge": Func(lambda a, b: not _lt(a, b), ("any", "any")),
    "html": Func(_html, (), "any"),
    "js": Func(_js, (), "any"),
    "urlquery": Func(_urlquery, (), "any"),
}
