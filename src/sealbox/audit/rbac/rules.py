"""RBAC policy rules and the exact matching the Kubernetes RBAC authorizer applies to them.

The matchers mirror kubernetes/kubernetes ``pkg/apis/rbac/v1/evaluation_helpers.go``:

* a verb, an API group or a resource matches only literally or through ``*``; there is no
  prefix, glob or case folding (``secret*`` and ``Secrets`` match nothing);
* a resource rule ``*/scale`` matches the ``scale`` subresource of every resource, and
  ``pods/exec`` matches only that subresource (``pods`` does not cover ``pods/exec``);
* ``resourceNames`` restricts a rule to requests that carry one of those names. A request
  without a name (``create`` of a top-level object, ``list``/``watch`` without a
  ``metadata.name`` field selector, ``deletecollection``) therefore never matches a rule that
  lists names (``rbac.md``: "create and deletecollection cannot be restricted by name").

Rules are read leniently: a field that is not a list of strings counts as empty, which matches
nothing, exactly as an empty field does for the API server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sealbox.audit.model import Location, Manifest

__all__ = [
    "ALL",
    "Rule",
    "allows",
    "api_group_matches",
    "parse_rules",
    "resource_matches",
    "resource_name_matches",
    "rule_from_mapping",
    "verb_matches",
]

ALL = "*"
_NOWHERE = Location("")


@dataclass(frozen=True, slots=True)
class Rule:
    """One entry of a Role's or ClusterRole's ``rules``; ``index`` is its position there."""

    verbs: tuple[str, ...]
    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()
    index: int = 0
    location: Location = _NOWHERE

    @property
    def names(self) -> frozenset[str] | None:
        """The names the rule is restricted to, or None when it applies to every name."""
        return frozenset(self.resource_names) if self.resource_names else None

    @property
    def wildcards(self) -> tuple[str, ...]:
        """Which of verbs, apiGroups and resources contain ``*`` (for messages)."""
        found = []
        for label, values in (
            ("verbs", self.verbs),
            ("apiGroups", self.api_groups),
            ("resources", self.resources),
        ):
            if ALL in values:
                found.append(f"{label} *")
        return tuple(found)


def _strings(value: object) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str))


def rule_from_mapping(node: Mapping[str, Any], index: int, location: Location) -> Rule:
    """Build a :class:`Rule` from one parsed ``rules[]`` entry."""
    return Rule(
        verbs=_strings(node.get("verbs")),
        api_groups=_strings(node.get("apiGroups")),
        resources=_strings(node.get("resources")),
        resource_names=_strings(node.get("resourceNames")),
        non_resource_urls=_strings(node.get("nonResourceURLs")),
        index=index,
        location=location,
    )


def parse_rules(manifest: Manifest) -> tuple[Rule, ...]:
    """The rules of a Role or ClusterRole manifest (entries that are not mappings are skipped)."""
    raw = manifest.body.get("rules")
    if not isinstance(raw, list):
        return ()
    return tuple(
        rule_from_mapping(node, index, manifest.at(node))
        for index, node in enumerate(raw)
        if isinstance(node, Mapping)
    )


def verb_matches(rule: Rule, verb: str) -> bool:
    """``VerbMatches``: the rule lists ``*`` or exactly this verb."""
    return ALL in rule.verbs or verb in rule.verbs


def api_group_matches(rule: Rule, group: str) -> bool:
    """``APIGroupMatches``: the rule lists ``*`` or exactly this group (``""`` is core)."""
    return ALL in rule.api_groups or group in rule.api_groups


def resource_matches(rule: Rule, resource: str, subresource: str = "") -> bool:
    """``ResourceMatches`` for ``resource`` or ``resource/subresource``.

    ``*`` matches everything, a literal matches the combined name exactly, and ``*/sub``
    matches any resource's ``sub`` subresource.
    """
    combined = f"{resource}/{subresource}" if subresource else resource
    for ruled in rule.resources:
        if ruled in (ALL, combined):
            return True
        if subresource and ruled == f"*/{subresource}":
            return True
    return False


def resource_name_matches(rule: Rule, name: str) -> bool:
    """``ResourceNameMatches``: no names means any name; otherwise the name must be listed.

    An empty ``name`` stands for a request that carries no name; it matches only rules
    without ``resourceNames``.
    """
    if not rule.resource_names:
        return True
    return bool(name) and name in rule.resource_names


def allows(
    rule: Rule, verb: str, group: str, resource: str, *, subresource: str = "", name: str = ""
) -> bool:
    """``RuleAllows`` for a resource request (non-resource URLs never match here)."""
    any_name = matches_any_name(rule, verb, group, resource, subresource)
    return any_name and resource_name_matches(rule, name)


# Five positional parameters on purpose: the capability scan calls this for every rule, atom and
# verb (40,000 times in a 3,000-object audit), and passing ``subresource`` by keyword there cost
# the RBAC check 3% (a keyword call misses CPython's fast path).
def matches_any_name(
    rule: Rule, verb: str, group: str, resource: str, subresource: str = ""
) -> bool:
    """True when the rule allows the request for at least one name (names not checked)."""
    return (
        verb_matches(rule, verb)
        and api_group_matches(rule, group)
        and resource_matches(rule, resource, subresource)
    )
