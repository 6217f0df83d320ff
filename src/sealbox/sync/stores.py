"""SecretStore and ClusterSecretStore specs (``external-secrets.io/v1``, Sealbox's subset), checked.

A store names exactly one provider: ``vault`` (OpenBao/Vault KV v1/v2), ``aws`` (Secrets Manager)
or ``kubernetes`` (Secrets of another namespace or cluster). :func:`parse_store` checks the
fields the controller and the providers rely on (the provider block through
:mod:`.provider_specs`), listing every problem by field path
(:class:`~sealbox.sync.fields.SyncSpecError`); the provider module still receives its raw block
(:attr:`StoreSpec.provider_spec`) and reads it itself. :func:`store_allows` is the
ClusterSecretStore ``conditions`` rule: which namespaces may use the store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from sealbox.sync.fields import Fields, SyncSpecError
from sealbox.sync.model import StoreKind
from sealbox.sync.provider_specs import PROVIDER_PARSERS, PROVIDERS, StoreProvider

__all__ = [
    "LabelSelector",
    "NamespaceCondition",
    "StoreSpec",
    "parse_store",
    "store_allows",
]


@dataclass(frozen=True, slots=True)
class LabelSelector:
    """A Kubernetes label selector: ``match_labels`` and ``(key, operator, values)`` expressions
    (In, NotIn, Exists, DoesNotExist), all of which must hold; empty matches everything."""

    match_labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    match_expressions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if any(labels.get(key) != value for key, value in self.match_labels.items()):
            return False
        for key, operator, values in self.match_expressions:
            present = key in labels
            if operator == "In" and not (present and labels[key] in values):
                return False
            if operator == "NotIn" and present and labels[key] in values:
                return False
            if operator == "Exists" and not present:
                return False
            if operator == "DoesNotExist" and present:
                return False
        return True


@dataclass(frozen=True, slots=True)
class NamespaceCondition:
    """One ClusterSecretStore ``conditions[]`` entry; a namespace it admits by any of the three
    ways may use the store."""

    namespace_selector: LabelSelector | None = None
    namespaces: tuple[str, ...] = ()
    namespace_regexes: tuple[str, ...] = ()


class _Operator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


@dataclass(frozen=True, slots=True)
class StoreSpec:
    """A checked store. ``provider_name`` is the ESO key (``vault``, ``aws``, ``kubernetes``),
    ``provider`` its parsed form and ``provider_spec`` the raw block the provider module reads.
    ``refresh_interval`` None: the controller's default revalidation period."""

    kind: StoreKind
    provider_name: str
    provider: StoreProvider
    provider_spec: Mapping[str, Any]
    refresh_interval: timedelta | None = None
    conditions: tuple[NamespaceCondition, ...] = ()


def store_allows(
    conditions: Sequence[NamespaceCondition], namespace: str, labels: Mapping[str, str]
) -> bool:
    """May an ExternalSecret in ``namespace`` (whose Namespace carries ``labels``) use a
    ClusterSecretStore with these ``conditions``? ESO's rule: no conditions admit every
    namespace; otherwise any condition admitting it by label selector, by name, or by a regular
    expression found anywhere in the name (Go's ``regexp.MatchString``: not anchored)."""
    if not conditions:
        return True
    for condition in conditions:
        selector = condition.namespace_selector
        if selector is not None and selector.matches(labels):
            return True
        if namespace in condition.namespaces:
            return True
        if any(re.search(pattern, namespace) for pattern in condition.namespace_regexes):
            return True
    return False


def _label_selector(fields: Fields, parent: Mapping[str, Any], path: str) -> LabelSelector | None:
    selector = fields.child(parent, "namespaceSelector", path)
    if selector is None:
        return None
    where = f"{path}.namespaceSelector"
    fields.known(selector, where, ("matchLabels", "matchExpressions"))
    expressions = []
    for item_path, item in fields.items(selector, "matchExpressions", where):
        fields.known(item, item_path, ("key", "operator", "values"))
        key = fields.string(item, "key", item_path, required=True) or ""
        before = len(fields.issues)
        operator = fields.choice(item, "operator", item_path, _Operator, _Operator.EXISTS)
        if item.get("operator") is None:
            fields.problem(f"{item_path}.operator", "required (In, NotIn, Exists or DoesNotExist)")
        values = fields.strings(item, "values", item_path)
        if len(fields.issues) > before:
            continue
        needs_values = operator in (_Operator.IN, _Operator.NOT_IN)
        if needs_values and not values:
            fields.problem(f"{item_path}.values", f"required (non-empty) with operator {operator}")
        if not needs_values and values:
            fields.problem(f"{item_path}.values", f"must be empty with operator {operator}")
        expressions.append((key, operator.value, values))
    return LabelSelector(
        match_labels=fields.string_map(selector, "matchLabels", where),
        match_expressions=tuple(expressions),
    )


def _conditions(fields: Fields, spec: Mapping[str, Any]) -> tuple[NamespaceCondition, ...]:
    result = []
    for path, item in fields.items(spec, "conditions", "spec"):
        fields.known(item, path, ("namespaceSelector", "namespaces", "namespaceRegexes"))
        regexes = fields.strings(item, "namespaceRegexes", path)
        for index, pattern in enumerate(regexes):
            try:
                re.compile(pattern)
            except re.error as error:
                where = f"{path}.namespaceRegexes[{index}]"
                fields.problem(where, f"not a valid regular expression ({error})")
        result.append(
            NamespaceCondition(
                namespace_selector=_label_selector(fields, item, path),
                namespaces=fields.strings(item, "namespaces", path),
                namespace_regexes=regexes,
            )
        )
    return tuple(result)


def parse_store(obj: Mapping[str, Any]) -> StoreSpec:
    """The checked spec of a SecretStore or ClusterSecretStore object (by its ``kind``;
    SecretStore when absent). ``conditions`` are refused on a namespaced SecretStore, as in ESO.

    Raises:
        SyncSpecError: naming the store and every problem found.
    """
    fields = Fields()
    root = fields.mapping(obj, "")
    kind = fields.choice(root, "kind", "", StoreKind, StoreKind.SECRET_STORE)
    metadata = fields.child(root, "metadata", "") or {}
    name = metadata.get("name") if isinstance(metadata.get("name"), str) else ""
    namespace = metadata.get("namespace") if isinstance(metadata.get("namespace"), str) else ""
    subject = f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"
    spec = fields.child(root, "spec", "")
    if spec is None:
        if not fields.issues:
            fields.problem("spec", "required")
        raise SyncSpecError(subject.rstrip(), fields.issues)
    allowed = ["provider", "refreshInterval", "controller"]
    if kind is StoreKind.CLUSTER_SECRET_STORE:
        allowed.append("conditions")
    fields.known(spec, "spec", allowed)
    fields.only(spec, "controller", "spec", ("",))
    provider_block = fields.child(spec, "provider", "spec")
    provider_name, provider, provider_spec = "", None, MappingProxyType[str, Any]({})
    if provider_block is None:
        if spec.get("provider") is None:
            fields.problem("spec.provider", f"required (one of {', '.join(PROVIDERS)})")
    elif len(provider_block) != 1:
        fields.problem("spec.provider", f"needs exactly one of {', '.join(PROVIDERS)}")
    else:
        ((provider_name, raw),) = provider_block.items()
        where = f"spec.provider.{provider_name}"
        parser = PROVIDER_PARSERS.get(provider_name)
        if parser is None:
            choices = ", ".join(PROVIDERS)
            fields.problem(where, f"unknown provider (Sealbox syncs from {choices})")
        elif raw is None:
            fields.problem(where, "must be a mapping, not null")
        elif (block := fields.child(provider_block, provider_name, "spec.provider")) is not None:
            provider, provider_spec = parser(fields, block, where), MappingProxyType(dict(block))
    interval = fields.duration(spec, "refreshInterval", "spec", seconds_allowed=True)
    conditions = _conditions(fields, spec)
    fields.raise_if_any(subject)
    if provider is None:  # every path without a provider added an issue above
        raise SyncSpecError(subject, fields.issues)
    return StoreSpec(
        kind=kind,
        provider_name=provider_name,
        provider=provider,
        provider_spec=provider_spec,
        refresh_interval=interval or None,
        conditions=conditions,
    )
