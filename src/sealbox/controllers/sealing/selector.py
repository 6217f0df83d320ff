"""``--label-selector``: Kubernetes label selector syntax, matched on the controller's side.

The runtime's informers list and watch whole collections, so the selector is applied to each
SealedSecret as it is reconciled: one that does not match is left alone, as if it were not there
(upstream passes the selector to its informer; the effect on which objects are unsealed is the
same). The grammar is the apiserver's: ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``,
``k in (a,b)``, ``k notin (a,b)``, joined by commas.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Final

from sealbox.errors import InputError

__all__ = ["LabelSelector", "parse_label_selector"]

LabelSelector = Callable[[Mapping[str, str]], bool]

_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET: Final = re.compile(rf"^\s*({_NAME})\s+(in|notin)\s+\(([^)]*)\)\s*$")
_CMP: Final = re.compile(rf"^\s*({_NAME})\s*(==|!=|=)\s*({_VALUE})\s*$")
_EXISTS: Final = re.compile(rf"^\s*(!?)\s*({_NAME})\s*$")


def _split(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _requirement(text: str) -> LabelSelector:
    if match := _SET.match(text):
        key, op, values = match.group(1), match.group(3), match.group(4)
        allowed = {v.strip() for v in values.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in allowed
        return lambda labels: labels.get(key) not in allowed
    if match := _CMP.match(text):
        key, op, value = match.group(1), match.group(3), match.group(4)
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _EXISTS.match(text):
        negate, key = match.group(1) == "!", match.group(2)
        return lambda labels: (key in labels) != negate
    raise InputError(
        f"--label-selector: {text.strip()!r} is not a label requirement; expected e.g. "
        "app=web, tier!=cache, env in (prod,stage), !legacy"
    )


def parse_label_selector(text: str) -> LabelSelector:
    """A predicate on labels; the empty selector matches everything.

    Raises:
        InputError: a requirement is not in the selector grammar (names the flag).
    """
    if not text.strip():
        return lambda labels: True
    requirements = [_requirement(part) for part in _split(text)]
    return lambda labels: all(check(labels) for check in requirements)
