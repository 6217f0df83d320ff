"""``--label-selector``: Kubernetes label selector syntax, sent to the apiserver.

As upstream, the selector goes to the SealedSecret informers (:func:`server_side`), so a
controller for one team lists and watches only that team's SealedSecrets instead of receiving
every one in the cluster. A SealedSecret relabelled out of the selection then looks to the
controller as if it had been deleted (the apiserver reports it so), as it does upstream. The
parsed selector is also a predicate on labels, which the reconciler checks again.

The grammar is the apiserver's: ``k=v``, ``k==v``, ``k!=v``, ``k``, ``!k``, ``k in (a,b)``,
``k notin (a,b)``, joined by commas. Keys and values are checked as the apiserver checks them, so
a selector this accepts is never refused later by every list and watch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol

from lightkube import operators

from sealbox.errors import InputError

__all__ = ["LabelSelector", "ParsedLabelSelector", "parse_label_selector", "server_side"]


class LabelSelector(Protocol):
    """A predicate on an object's labels."""

    def __call__(self, labels: Mapping[str, str], /) -> bool: ...


#: One requirement as lightkube encodes it: the key and its operator.
Requirement = tuple[str, operators.Operator[Any]]

_WORD = r"[^\s,()=!]+"
_SET: Final = re.compile(rf"^\s*({_WORD})\s+(in|notin)\s+\(([^)]*)\)\s*$")
_CMP: Final = re.compile(rf"^\s*({_WORD})\s*(==|!=|=)\s*({_WORD})?\s*$")
_EXISTS: Final = re.compile(rf"^\s*(!?)\s*({_WORD})\s*$")
# The apiserver's rules (IsQualifiedName for keys, IsValidLabelValue for values).
_NAME: Final = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$")
_PREFIX: Final = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_EXAMPLES = "expected e.g. app=web, tier!=cache, env in (prod,stage), !legacy"


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


def _refuse(text: str, why: str) -> InputError:
    return InputError(f"--label-selector: {text.strip()!r} {why}; {_EXAMPLES}")


def _key(key: str, text: str) -> str:
    prefix, slash, name = key.rpartition("/")
    if slash and not (len(prefix) <= 253 and _PREFIX.match(prefix)):
        raise _refuse(text, f"has key prefix {prefix!r}, which is not a DNS subdomain")
    if not (len(name) <= 63 and _NAME.match(name)):
        raise _refuse(text, f"has key {key!r}, which is not a label name (at most 63 characters)")
    return key


def _value(value: str, text: str) -> str:
    if value and not (len(value) <= 63 and _NAME.match(value)):
        raise _refuse(text, f"has value {value!r}, which is not a label value")
    return value


def _requirement(text: str) -> Requirement:
    if match := _SET.match(text):
        key, op = _key(match.group(1), text), match.group(2)
        values = {_value(v.strip(), text) for v in match.group(3).split(",") if v.strip()}
        if not values:
            raise _refuse(text, f"has an empty set; '{op}' needs at least one value")
        return key, operators.in_(values) if op == "in" else operators.not_in(values)
    if match := _CMP.match(text):
        key, op, value = _key(match.group(1), text), match.group(2), match.group(3) or ""
        _value(value, text)
        return key, operators.not_equal(value) if op == "!=" else operators.equal(value)
    if match := _EXISTS.match(text):
        key = _key(match.group(2), text)
        return key, operators.not_exists() if match.group(1) else operators.exists()
    raise _refuse(text, "is not a label requirement")


def _check(requirement: Requirement) -> Callable[[Mapping[str, str]], bool]:
    key, operator = requirement
    name, value = operator.op_name, operator.value
    if name == "exists":
        return lambda labels: key in labels
    if name == "not_exists":
        return lambda labels: key not in labels
    if name == "equal":
        return lambda labels: labels.get(key) == value
    if name == "not_equal":
        return lambda labels: labels.get(key) != value
    allowed = frozenset(value) if isinstance(value, (list, tuple, set, frozenset)) else frozenset()
    if name == "in_":
        return lambda labels: labels.get(key) in allowed
    return lambda labels: labels.get(key) not in allowed  # not_in: absent matches too


@dataclass(frozen=True, slots=True)
class ParsedLabelSelector:
    """``--label-selector`` parsed: a predicate on labels and the requirements for lightkube."""

    requirements: tuple[Requirement, ...]

    def __call__(self, labels: Mapping[str, str], /) -> bool:
        return all(_check(requirement)(labels) for requirement in self.requirements)

    def __str__(self) -> str:
        return ",".join(operator.encode(key) for key, operator in self.requirements)


def parse_label_selector(text: str) -> ParsedLabelSelector:
    """The selector in ``text``; the empty selector matches everything.

    Raises:
        InputError: a requirement is not in the selector grammar, or has a key or value the
            apiserver would refuse (names the flag).
    """
    if not text.strip():
        return ParsedLabelSelector(())
    return ParsedLabelSelector(tuple(_requirement(part) for part in _split(text)))


def server_side(selector: LabelSelector) -> list[Requirement] | None:
    """What the informers send the apiserver for ``selector`` (lightkube's list-of-pairs form,
    which keeps two requirements on one key); None: nothing to send (everything matches, or a
    plain predicate the apiserver cannot run, left to the reconciler)."""
    if isinstance(selector, ParsedLabelSelector) and selector.requirements:
        return list(selector.requirements)
    return None
