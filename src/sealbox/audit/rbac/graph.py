"""The RBAC graph of the input: identities, roles (with aggregation) and the grants binding them.

What is modelled, following kubernetes/website ``reference/access-authn-authz/rbac.md``:

* **Identities** are the subjects of bindings: ``User``, ``Group`` and ``ServiceAccount``. A
  User subject named ``system:serviceaccount:<ns>:<name>`` *is* that service account. A
  ServiceAccount subject without a namespace takes the RoleBinding's namespace (as the
  authorizer does). The API server rejects one in a ClusterRoleBinding, yet kustomize bases
  write them and expect the namespace they are deployed to: it is taken from the file's
  kustomization or ``--namespace`` (:class:`~sealbox.audit.rbac.namespaces.Namespaces`).
  When neither a RoleBinding's own namespace nor those say, ``default`` is assumed and the
  grant is marked (:attr:`Grant.namespace_assumed`): it is never dropped. A service
  account is also in the groups ``system:serviceaccounts`` and ``system:serviceaccounts:<ns>``;
  every authenticated identity is in ``system:authenticated``, which is left out of what an
  identity *inherits* because anyone who could act as it already has that group's rights.
* **Roles**: a Role lives in its namespace, a ClusterRole is cluster-wide. A ClusterRole with
  ``aggregationRule.clusterRoleSelectors`` gets the rules of every other ClusterRole whose
  labels match any selector (``matchLabels`` and ``matchExpressions`` with ``In``, ``NotIn``,
  ``Exists``, ``DoesNotExist``; an empty selector matches all), transitively, as the
  aggregation controller keeps it. Rules written in an aggregated role itself are kept too: a
  dump of a live cluster lists the aggregated rules there. Duplicate definitions (overlays,
  several files) are merged. The default ClusterRoles stand in when the input lacks them
  (:mod:`sealbox.audit.rbac.builtin`).
* **Namespaces**: an object without ``metadata.namespace`` lands where
  :class:`~sealbox.audit.rbac.namespaces.Namespaces` says (the file's kustomization
  ``namespace:``, ``--namespace``, else ``default``).
* **Grants**: a RoleBinding gives its role's rules in its own namespace only, even when the
  role is a ClusterRole; a ClusterRoleBinding gives a ClusterRole's rules in every namespace
  (scope ``*``). A binding to a role that is neither in the input nor built in is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sealbox.audit.model import Location, Manifest, ObjectRef
from sealbox.audit.rbac.builtin import builtin_cluster_roles
from sealbox.audit.rbac.namespaces import DEFAULT_NAMESPACE, Namespaces
from sealbox.audit.rbac.pods import PodIndex
from sealbox.audit.rbac.rules import Rule, parse_rules

__all__ = [
    "ALL_SCOPES",
    "MASTERS",
    "BoundRule",
    "Grant",
    "Identity",
    "RbacGraph",
    "selector_matches",
]

ALL_SCOPES = "*"
_SA_USER_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True, slots=True, order=True)
class Identity:
    """A subject: kind ``User``, ``Group`` or ``ServiceAccount`` (with its namespace)."""

    kind: str
    name: str
    namespace: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.qualified_name}"

    @property
    def qualified_name(self) -> str:
        """The name, with its namespace for a service account (``ns/name``)."""
        if self.kind == "ServiceAccount":
            return f"{self.namespace}/{self.name}"
        return self.name

    @property
    def pattern_key(self) -> str:
        """``Kind:name`` (``ServiceAccount:ns/name``), the form allowlist patterns match."""
        return f"{self.kind}:{self.qualified_name}"

    def implicit_groups(self) -> tuple[Identity, ...]:
        """Groups a service account is always in (``system:authenticated`` left out)."""
        if self.kind != "ServiceAccount":
            return ()
        return (
            Identity("Group", "system:serviceaccounts"),
            Identity("Group", f"system:serviceaccounts:{self.namespace}"),
        )

    def as_dict(self) -> dict[str, str]:
        out = {"kind": self.kind, "name": self.name}
        if self.kind == "ServiceAccount":
            out["namespace"] = self.namespace
        return out


MASTERS = Identity("Group", "system:masters")


def user_identity(name: str) -> Identity:
    """A User, or the ServiceAccount a ``system:serviceaccount:ns:name`` username stands for."""
    if name.startswith(_SA_USER_PREFIX):
        namespace, sep, account = name[len(_SA_USER_PREFIX) :].partition(":")
        if sep and namespace and account and ":" not in account:
            return Identity("ServiceAccount", account, namespace)
    return Identity("User", name)


@dataclass(frozen=True, slots=True)
class BoundRule:
    """A rule as a role holds it; ``source`` is the role it is written in (aggregation)."""

    rule: Rule
    source: ObjectRef


@dataclass(frozen=True, slots=True)
class Grant:
    """One subject of one binding: the role's rules, applying in ``scope`` (ns or ``*``).

    ``binding`` is the binding as written (what suppressions name). ``namespace_assumed`` is
    True for a ServiceAccount subject whose namespace nothing in the input gave (``default``).
    """

    subject: Identity
    binding: ObjectRef
    binding_location: Location
    role: ObjectRef
    scope: str
    rules: tuple[BoundRule, ...]
    namespace_assumed: bool = False


def _labels(manifest: Manifest) -> dict[str, str]:
    raw = manifest.metadata.get("labels")
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): _label_value(v) for k, v in raw.items()}


def _label_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics; an unknown operator makes the selector match none."""
    match_labels = selector.get("matchLabels")
    if isinstance(match_labels, Mapping):
        for key, value in match_labels.items():
            if labels.get(str(key)) != _label_value(value):
                return False
    expressions = selector.get("matchExpressions")
    for expression in expressions if isinstance(expressions, list) else ():
        if not isinstance(expression, Mapping):
            return False
        key = str(expression.get("key", ""))
        raw_values = expression.get("values")
        values = {_label_value(v) for v in raw_values} if isinstance(raw_values, list) else set()
        operator = expression.get("operator")
        present = key in labels
        if operator == "In":
            ok = present and labels[key] in values
        elif operator == "NotIn":
            ok = not present or labels[key] not in values
        elif operator == "Exists":
            ok = present
        elif operator == "DoesNotExist":
            ok = not present
        else:
            return False
        if not ok:
            return False
    return True


class _RoleDef:
    """All definitions of one role merged: rules in input order, labels, selectors."""

    def __init__(self, ref: ObjectRef) -> None:
        self.ref = ref
        self.rules: list[BoundRule] = []
        self.labels: dict[str, str] = {}
        self.selectors: list[Mapping[str, Any]] = []
        self.aggregated = False

    def add(self, manifest: Manifest) -> None:
        self.rules.extend(BoundRule(rule, self.ref) for rule in parse_rules(manifest))
        self.labels.update(_labels(manifest))
        aggregation = manifest.body.get("aggregationRule")
        if isinstance(aggregation, Mapping):
            self.aggregated = True
            selectors = aggregation.get("clusterRoleSelectors")
            for selector in selectors if isinstance(selectors, list) else ():
                if isinstance(selector, Mapping):
                    self.selectors.append(selector)


class RbacGraph:
    """Everything RBAC in the input, indexed by subject and by namespace."""

    def __init__(self, manifests: Sequence[Manifest], namespaces: Namespaces | None = None) -> None:
        self.placement = namespaces if namespaces is not None else Namespaces()
        self._roles: dict[tuple[str, str], _RoleDef] = {}
        self._cluster_roles: dict[str, _RoleDef] = {}
        self.namespaces: set[str] = set()
        self._accounts: dict[str, set[str]] = {}
        automount: dict[tuple[str, str], bool | None] = {}
        bindings: list[Manifest] = []
        for manifest in manifests:
            if manifest.namespace:
                self.namespaces.add(manifest.namespace)
            if manifest.kind == "Role":
                key = (self.placement.of(manifest), manifest.name)
                ref = ObjectRef("Role", key[0], key[1])
                self._roles.setdefault(key, _RoleDef(ref)).add(manifest)
            elif manifest.kind == "ClusterRole":
                self._add_cluster_role(manifest)
            elif manifest.kind in ("RoleBinding", "ClusterRoleBinding"):
                bindings.append(manifest)
            elif manifest.kind == "ServiceAccount":
                namespace = self.placement.of(manifest)
                self._add_account(namespace, manifest.name)
                setting = manifest.body.get("automountServiceAccountToken")
                automount[(namespace, manifest.name)] = (
                    setting if isinstance(setting, bool) else None
                )
            elif manifest.kind == "Namespace" and manifest.name:
                self.namespaces.add(manifest.name)
        for builtin in builtin_cluster_roles():
            if builtin.name not in self._cluster_roles:
                self._add_cluster_role(builtin)
        self._effective = self._aggregate()
        self.pods = PodIndex(manifests, automount, self.placement)
        for pod in self.pods.in_scope(ALL_SCOPES):
            self._add_account(pod.namespace, pod.service_account)
        self.grants: list[Grant] = []
        for binding in bindings:
            self.grants.extend(self._grants(binding))
        self.by_subject: dict[Identity, list[Grant]] = {}
        for grant in self.grants:
            self.by_subject.setdefault(grant.subject, []).append(grant)
            if grant.subject.kind == "ServiceAccount":
                self._add_account(grant.subject.namespace, grant.subject.name)
            if grant.scope != ALL_SCOPES:
                self.namespaces.add(grant.scope)
        for namespace in self.namespaces:
            self._add_account(namespace, "default")

    # -- roles -----------------------------------------------------------------------------

    def _add_cluster_role(self, manifest: Manifest) -> None:
        ref = ObjectRef("ClusterRole", None, manifest.name)
        self._cluster_roles.setdefault(manifest.name, _RoleDef(ref)).add(manifest)

    def _aggregate(self) -> dict[str, tuple[BoundRule, ...]]:
        """Effective rules of every ClusterRole, aggregation resolved transitively."""
        sources: dict[str, list[str]] = {}
        for name, role in self._cluster_roles.items():
            if role.aggregated:
                sources[name] = sorted(
                    other
                    for other, candidate in self._cluster_roles.items()
                    if other != name
                    and any(selector_matches(s, candidate.labels) for s in role.selectors)
                )
        effective: dict[str, tuple[BoundRule, ...]] = {}
        for name, role in self._cluster_roles.items():
            rules = list(role.rules)
            seen = {name}
            queue = list(sources.get(name, ()))
            while queue:
                other = queue.pop(0)
                if other in seen:
                    continue
                seen.add(other)
                rules.extend(self._cluster_roles[other].rules)
                queue.extend(sources.get(other, ()))
            effective[name] = tuple(rules)
        return effective

    def cluster_role_rules(self, name: str) -> tuple[BoundRule, ...] | None:
        """Effective rules of a ClusterRole (None when the role is unknown)."""
        return self._effective.get(name)

    def role_rules(self, namespace: str, name: str) -> tuple[BoundRule, ...] | None:
        role = self._roles.get((namespace, name))
        return tuple(role.rules) if role is not None else None

    def roles_named(self, name: str) -> Iterable[tuple[BoundRule, ...]]:
        """The rules of every Role called ``name``, whatever its namespace."""
        for (_, role_name), role in sorted(self._roles.items()):
            if role_name == name:
                yield tuple(role.rules)

    # -- bindings --------------------------------------------------------------------------

    def _grants(self, binding: Manifest) -> list[Grant]:
        cluster = binding.kind == "ClusterRoleBinding"
        namespace = "" if cluster else self.placement.of(binding)
        role_ref = binding.body.get("roleRef")
        if not isinstance(role_ref, Mapping):
            return []
        kind, name = role_ref.get("kind"), role_ref.get("name")
        if not isinstance(name, str) or not name:
            return []
        if kind == "ClusterRole":
            rules = self.cluster_role_rules(name)
            role = ObjectRef("ClusterRole", None, name)
        elif kind == "Role" and not cluster:
            rules = self.role_rules(namespace, name)
            role = ObjectRef("Role", namespace, name)
        else:
            return []  # a ClusterRoleBinding cannot reference a Role; unknown kinds bind nothing
        if rules is None:
            return []  # not in the input and not built in: unresolved, skipped
        scope = ALL_SCOPES if cluster else namespace
        subjects = binding.body.get("subjects")
        out: list[Grant] = []
        seen: set[Identity] = set()
        # Where a namespace-less ServiceAccount subject lives (None: nothing says, assume).
        account_ns = binding.namespace if not cluster else None
        account_ns = account_ns or self.placement.default_for(binding)
        for subject in subjects if isinstance(subjects, list) else ():
            identity, assumed = _subject(subject, account_ns)
            if identity is not None and identity not in seen:
                seen.add(identity)
                out.append(
                    Grant(identity, binding.ref, binding.location, role, scope, rules, assumed)
                )
        return out

    # -- identities ------------------------------------------------------------------------

    def _add_account(self, namespace: str, name: str) -> None:
        self._accounts.setdefault(namespace, set()).add(name)

    def service_accounts(self, scope: str, names: frozenset[str] | None = None) -> list[Identity]:
        """Known service accounts in ``scope`` (optionally only those called ``names``)."""
        namespaces = sorted(self._accounts) if scope == ALL_SCOPES else [scope]
        out = []
        for namespace in namespaces:
            for name in sorted(self._accounts.get(namespace, ())):
                if names is None or name in names:
                    out.append(Identity("ServiceAccount", name, namespace))
        return out

    @property
    def subjects(self) -> list[Identity]:
        """Every subject some binding names, sorted."""
        return sorted(self.by_subject)

    def identities(self, kind: str) -> list[Identity]:
        """Subjects of one kind (``User`` or ``Group``) that bindings name."""
        return [s for s in self.subjects if s.kind == kind]


def _subject(subject: object, account_ns: str | None) -> tuple[Identity | None, bool]:
    """The identity of one subject entry, and whether its namespace was assumed."""
    if not isinstance(subject, Mapping):
        return None, False
    kind, name = subject.get("kind"), subject.get("name")
    if not isinstance(name, str) or not name:
        return None, False
    if kind == "User":
        return user_identity(name), False
    if kind == "Group":
        return Identity("Group", name), False
    if kind == "ServiceAccount":
        raw = subject.get("namespace")
        if isinstance(raw, str) and raw:
            return Identity("ServiceAccount", name, raw), False
        if account_ns:
            return Identity("ServiceAccount", name, account_ns), False
        return Identity("ServiceAccount", name, DEFAULT_NAMESPACE), True
    return None, False
