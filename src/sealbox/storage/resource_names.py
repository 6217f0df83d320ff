"""What a person may call a resource on the command line, checked against the built-in table.

``-r secrets`` names a built-in resource by its plural, lowercase name (``deployments`` is
``deployments.apps``; the group may also be written out). A name with a dot and a group that is
not built in (``widgets.example.com``) is a custom resource and is taken as given. Anything else
is refused, with a suggestion when the mistake is a common one: case (``Secrets``), a singular
or a kind (``secret``, ``ConfigMap``, ``NetworkPolicy``) or a kubectl short name (``cm``), so a
typo never quietly selects nothing.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Final

from sealbox.errors import InputError
from sealbox.storage.resources_table import BUILTIN_GROUPS, GROUP_OF_SPECIAL_PREFIX

__all__ = ["builtin_groups", "builtin_resources", "resource_name"]

#: Plural name -> (group, resource) of every built-in resource, ``services`` and the other
#: historically prefixed ones included.
_BUILTIN: Final = MappingProxyType(
    {
        **{resource: (group, resource) for resource, group in BUILTIN_GROUPS.items()},
        **{resource: (group, resource) for group, resource in GROUP_OF_SPECIAL_PREFIX.values()},
    }
)
_GROUPS: Final = frozenset(group for group, _ in _BUILTIN.values() if group)
_SHORT_NAMES: Final = MappingProxyType(
    {
        "cm": "configmaps",
        "cj": "cronjobs",
        "crd": "customresourcedefinitions.apiextensions.k8s.io",
        "deploy": "deployments",
        "ds": "daemonsets",
        "ep": "endpoints",
        "ev": "events",
        "hpa": "horizontalpodautoscalers",
        "ing": "ingresses",
        "netpol": "networkpolicies",
        "no": "nodes",
        "ns": "namespaces",
        "pdb": "poddisruptionbudgets",
        "po": "pods",
        "pv": "persistentvolumes",
        "pvc": "persistentvolumeclaims",
        "rs": "replicasets",
        "sa": "serviceaccounts",
        "sts": "statefulsets",
        "svc": "services",
    }
)
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_HINT = (
    "built-in resources are lowercase plurals such as secrets, configmaps or deployments.apps; "
    "a custom resource is named with its group, e.g. widgets.example.com"
)


def builtin_groups() -> frozenset[str]:
    """The API groups of built-in resources (not the core group, "")."""
    return _GROUPS


def builtin_resources(group: str) -> list[str]:
    """The built-in resources of ``group`` ("" for core), sorted."""
    return sorted(resource for resource, (g, _) in _BUILTIN.items() if g == group)


def resource_name(text: str) -> tuple[str, str]:
    """``(group, resource)`` for a resource as a person names it: ``secrets`` -> ("", "secrets"),
    ``deployments`` -> ("apps", "deployments"), ``widgets.example.com`` -> ("example.com",
    "widgets").

    Raises:
        InputError: a wildcard, a name that is not a resource name, or a built-in resource that
            does not exist (with a suggestion when there is a likely one).
    """
    resource, dot, group = text.partition(".")
    if "*" in text:
        raise InputError(f"{text!r}: name one resource, e.g. secrets or widgets.example.com")
    if not dot or not group:
        found = _BUILTIN.get(resource)
        if found is not None:
            return found
        raise InputError(_unknown(text, _suggest(resource, _BUILTIN)))
    if group in _GROUPS:
        if _BUILTIN.get(resource) == (group, resource):
            return group, resource
        elsewhere = _BUILTIN.get(resource)
        if elsewhere is not None:  # a built-in of another group
            raise InputError(_unknown(text, _display(*elsewhere)))
        of_group = {r: gr for r, gr in _BUILTIN.items() if gr[0] == group}
        raise InputError(_unknown(text, _suggest(resource, of_group, group)))
    if not _is_name(text):
        lowered = text.lower()
        hint = lowered if lowered != text and _is_name(lowered) else None
        raise InputError(_unknown(text, hint))
    return group, resource


def _display(group: str, resource: str) -> str:
    return f"{resource}.{group}" if group else resource


def _is_name(text: str) -> bool:
    return all(_LABEL.fullmatch(label) for label in text.split("."))


def _unknown(text: str, suggestion: str | None) -> str:
    if suggestion:
        return f"{text!r}: no such resource; did you mean {suggestion}?"
    return f"{text!r}: no such resource ({_HINT})"


def _plural_guesses(word: str) -> Iterable[str]:
    yield word
    yield word + "s"
    yield word + "es"
    if word.endswith("y"):
        yield word[:-1] + "ies"


def _suggest(resource: str, known: Mapping[str, tuple[str, str]], group: str = "") -> str | None:
    """The likeliest meant name among ``known``: a case, singular or kind slip, a short name,
    else the closest spelling."""
    word = resource.lower()
    short = _SHORT_NAMES.get(word)
    if short is not None and not group:
        return short
    match = next((guess for guess in _plural_guesses(word) if guess in known), None)
    if match is None:
        close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.8)
        match = close[0] if close else None
    if match is None:
        return None
    return _display(group, match)
