"""Group-resources: parsing ``resources`` strings, their rules, and which entry a resource uses.

A ``resources`` string is split at its **first** dot (``ParseGroupResource``): ``secrets`` is the
core group, ``widgets.example.com`` is group ``example.com``, ``*.`` is every core resource,
``*.apps`` every resource of ``apps`` and ``*.*`` everything. A resource uses the entry with an
exact match, else ``*.<group>``, else ``*.*``; without any, the apiserver stores it in plaintext
(an identity transformer that refuses to read ``k8s:enc:`` data).

This module also owns the apiserver rules about resource lists: names (V7-V12), duplicates and
overlaps inside one list (V13, V14) and masking across entries (V15).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sealbox.encryption.model import (
    EncryptionConfiguration,
    ProviderConfiguration,
    ResourceConfiguration,
)
from sealbox.errors import ConfigIssue

__all__ = [
    "ANY_GROUP_ANY_RESOURCE",
    "GroupResource",
    "Resolution",
    "check_masking",
    "check_repeats",
    "check_resource_list",
    "check_resource_names",
    "check_resource_overlap",
    "covers",
    "find_entry",
    "parse_group_resource",
    "provider_chain",
    "resolve",
]

_NON_REST = frozenset({"apiserveripinfo", "serviceipallocations", "servicenodeportallocations"})


@dataclass(frozen=True, slots=True, order=True)
class GroupResource:
    """A group and a resource, either of which may be ``*``; the core group is ``""``."""

    group: str
    resource: str

    def __str__(self) -> str:
        """The form written in a config file: ``secrets``, ``*.``, ``*.apps``, ``*.*``."""
        if self.group == "":
            return "*." if self.resource == "*" else self.resource
        return f"{self.resource}.{self.group}"

    @property
    def is_wildcard(self) -> bool:
        return self.resource == "*"


ANY_GROUP_ANY_RESOURCE = GroupResource("*", "*")


def parse_group_resource(text: str) -> GroupResource:
    """Split ``text`` at the first dot: ``deployments.apps`` -> (``apps``, ``deployments``)."""
    resource, dot, group = text.partition(".")
    return GroupResource(group if dot else "", resource)


def _as_group_resource(value: GroupResource | str) -> GroupResource:
    return value if isinstance(value, GroupResource) else parse_group_resource(value)


@dataclass(frozen=True, slots=True)
class Resolution:
    """Where a group-resource gets its transformers from.

    ``rule`` is the key that matched (the resource itself, ``*.<group>`` or ``*.*``), ``entries``
    every entry listing that key in file order. The apiserver appends the providers of all of
    them, so ``providers`` is that concatenation; it is empty when nothing matched.
    """

    resource: GroupResource
    rule: GroupResource | None
    entries: tuple[ResourceConfiguration, ...]

    @property
    def providers(self) -> tuple[ProviderConfiguration, ...]:
        return tuple(provider for entry in self.entries for provider in entry.providers)

    @property
    def write_provider(self) -> ProviderConfiguration | None:
        """The provider new writes use; None means plaintext (the apiserver default)."""
        chain = self.providers
        return chain[0] if chain else None


def _index(config: EncryptionConfiguration) -> dict[GroupResource, list[ResourceConfiguration]]:
    table: dict[GroupResource, list[ResourceConfiguration]] = {}
    for entry in config.resources:
        for text in entry.resources:
            matches = table.setdefault(parse_group_resource(text), [])
            if not any(seen is entry for seen in matches):
                matches.append(entry)
    return table


def resolve(config: EncryptionConfiguration, gr: GroupResource | str) -> Resolution:
    """Find the rule and entries that ``gr`` uses: exact, then ``*.<group>``, then ``*.*``."""
    wanted = _as_group_resource(gr)
    table = _index(config)
    for rule in (wanted, GroupResource(wanted.group, "*"), ANY_GROUP_ANY_RESOURCE):
        if rule in table:
            return Resolution(wanted, rule, tuple(table[rule]))
    return Resolution(wanted, None, ())


def find_entry(
    config: EncryptionConfiguration, gr: GroupResource | str
) -> ResourceConfiguration | None:
    """The first entry that applies to ``gr``; None means the apiserver default (plaintext)."""
    entries = resolve(config, gr).entries
    return entries[0] if entries else None


def provider_chain(
    config: EncryptionConfiguration, gr: GroupResource | str
) -> tuple[ProviderConfiguration, ...]:
    """The providers the apiserver tries for ``gr``, in order; the first one writes."""
    return resolve(config, gr).providers


def _name_problem(text: str) -> str | None:
    """The first rule of V7-V12 that ``text`` breaks, in the apiserver's order."""
    if any(char.isupper() for char in text):
        return "resource name should not contain capital letters"
    if text == "*":
        return (
            "use '*.' to encrypt all the resources from core API group or *.* to encrypt all "
            "resources"
        )
    if text in _NON_REST:
        return "resources which do not have REST API/s cannot be encrypted"
    gr = parse_group_resource(text)
    if gr.group == "events.k8s.io":
        return (
            "'*.events.k8s.io' objects are stored using the 'events' API group in etcd. "
            "Use 'events' instead in the config file"
        )
    if gr.group == "extensions":
        return "'extensions' group has been removed and cannot be used for encryption"
    if gr.group == "*" and gr.resource != "*":
        return (
            "encrypting the same resource across groups is not supported; "
            f"list each group explicitly, e.g. '{gr.resource}.<group>'"
        )
    return None


def check_resource_names(resources: Sequence[str | None], path: str) -> list[ConfigIssue]:
    """Rules V7-V12 for each string of one ``resources`` list (None items are skipped)."""
    issues: list[ConfigIssue] = []
    for i, text in enumerate(resources):
        problem = None if text is None else _name_problem(text)
        if problem is not None:
            issues.append(ConfigIssue(f"{path}[{i}]", f"{text!r}: {problem}"))
    return issues


_Pair = tuple[int, int]


def _duplicate_pair(grs: Sequence[GroupResource]) -> _Pair | None:
    first: dict[GroupResource, int] = {}
    for i, gr in enumerate(grs):
        if gr in first:
            return first[gr], i
        first[gr] = i
    return None


def _overlap_pair(grs: Sequence[GroupResource]) -> _Pair | None:
    """A pair the apiserver calls overlapping: ``*.*`` with anything, or ``*.<g>`` with ``x.<g>``.

    Equivalent to the apiserver's pairwise loop (including a repeated wildcard, which is both a
    duplicate and an overlap), in linear time.
    """
    if len(grs) < 2:
        return None
    if ANY_GROUP_ANY_RESOURCE in grs:
        star = grs.index(ANY_GROUP_ANY_RESOURCE)
        return star, 1 if star == 0 else 0
    by_group: dict[str, list[int]] = {}
    for i, gr in enumerate(grs):
        by_group.setdefault(gr.group, []).append(i)
    for members in by_group.values():
        wildcard = next((i for i in members if grs[i].is_wildcard), None)
        if wildcard is not None and len(members) > 1:
            return wildcard, next(i for i in members if i != wildcard)
    return None


def _pair_issue(path: str, problem: str, pair: list[tuple[int, str]]) -> ConfigIssue:
    (i, first), (j, second) = pair
    return ConfigIssue(path, f"{problem} ({first!r} at [{i}] and {second!r} at [{j}])")


def check_resource_overlap(resources: Sequence[str | None], path: str) -> list[ConfigIssue]:
    """Rules V13 (duplicates) and V14 (overlaps) within one ``resources`` list."""
    present = [(i, text) for i, text in enumerate(resources) if text is not None]
    if len(present) < 2:
        return []
    grs = [parse_group_resource(text) for _, text in present]
    duplicate, overlap = _duplicate_pair(grs), _overlap_pair(grs)
    issues: list[ConfigIssue] = []
    if duplicate is not None:
        problem = "the same resource cannot be specified multiple times"
        issues.append(_pair_issue(path, problem, [present[k] for k in sorted(duplicate)]))
    if overlap is not None:
        problem = (
            "using overlapping resources such as 'secrets' and '*.' in the same resource list "
            "is not allowed as they will be masked"
        )
        issues.append(_pair_issue(path, problem, [present[k] for k in sorted(overlap)]))
    return issues


def check_resource_list(resources: Sequence[str | None], path: str) -> list[ConfigIssue]:
    """Every single-list rule (V13, V14, then V7-V12 per item), as the apiserver orders them."""
    return check_resource_overlap(resources, path) + check_resource_names(resources, path)


def check_masking(entries: Sequence[tuple[str, Sequence[str | None]]]) -> list[ConfigIssue]:
    """Rule V15: no entry may name a resource an earlier entry's ``*.<group>`` or ``*.*`` covers.

    ``entries`` holds each entry's ``resources`` path and strings. Overlaps inside one list are
    V14's business, so only earlier entries mask.
    """
    issues: list[ConfigIssue] = []
    earlier: dict[GroupResource, str] = {}
    for path, resources in entries:
        mine: dict[GroupResource, str] = {}
        for i, text in enumerate(resources):
            if text is None:
                continue
            gr = parse_group_resource(text)
            for rule in (GroupResource(gr.group, "*"), ANY_GROUP_ANY_RESOURCE):
                if rule in earlier:
                    issues.append(
                        ConfigIssue(
                            f"{path}[{i}]",
                            f'resource "{gr}" is masked by earlier rule "{rule}" (at '
                            f"{earlier[rule]}); list specific resources before wildcards",
                        )
                    )
                    break
            mine.setdefault(gr, f"{path}[{i}]")
        for gr, where in mine.items():
            earlier.setdefault(gr, where)
    return issues


def covers(resources: Sequence[str | None], gr: GroupResource) -> bool:
    """Whether one of these ``resources`` strings applies to ``gr`` (itself or a wildcard)."""
    rules = {gr, GroupResource(gr.group, "*"), ANY_GROUP_ANY_RESOURCE}
    return any(parse_group_resource(text) in rules for text in resources if text is not None)


def check_repeats(entries: Sequence[tuple[str, Sequence[str | None]]]) -> list[ConfigIssue]:
    """Advice (a warning): a resource named in two entries gets both provider lists appended.

    Repeated wildcards are masked (V15), an error already, so only specific resources count.
    """
    warnings: list[ConfigIssue] = []
    first_seen: dict[GroupResource, str] = {}
    for path, resources in entries:
        entry_path = path.removesuffix(".resources")
        mine: set[GroupResource] = set()
        for i, text in enumerate(resources):
            gr = None if text is None else parse_group_resource(text)
            if gr is None or gr.is_wildcard:
                continue
            first = first_seen.get(gr)
            if first is not None and gr not in mine:
                message = (
                    f"{str(gr)!r} is also listed in {first}: the apiserver appends these "
                    f"providers to that entry's chain, so writes use {first}'s first provider; "
                    "list each resource once"
                )
                warnings.append(ConfigIssue(f"{path}[{i}]", message))
            mine.add(gr)
        for gr in mine:
            first_seen.setdefault(gr, entry_path)
    return warnings
