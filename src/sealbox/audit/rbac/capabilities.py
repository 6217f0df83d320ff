"""What one identity's grants let it do to Secrets, as path grants (independent of any Secret).

Each rule a subject holds is matched against a fixed list of *atoms* (a verb on a resource, see
``_ATOMS``) with the exact RBAC matcher. Atoms are then combined into :class:`PathGrant` objects,
one family per way of reaching Secret values (the "Privilege escalation risks" of the
Kubernetes RBAC good practices; each family names its section there):

``list`` / ``get``
    ``list``/``watch`` on ``secrets`` without ``resourceNames`` return every Secret in scope
    ("Listing secrets"); ``get``, and ``list``/``watch`` restricted by name (usable with a
    ``metadata.name`` field selector), reveal only the named Secrets.
``workload``
    ``create`` pods, or ``create``/``update``/``patch`` a pod controller, in a namespace reads
    every Secret there and runs as any service account there ("Workload creation").
``exec``
    ``create`` or ``get`` on ``pods/exec``/``pods/attach`` (``get`` opens the websocket, as
    Polaris notes), ``update``/``patch`` on ``pods/ephemeralcontainers``: reads what pods mount
    and their service-account tokens.
``impersonate``
    ``impersonate`` on ``users``, ``groups`` (needs a user or service account to impersonate
    too: the API server rejects group impersonation alone) or ``serviceaccounts``
    ("Impersonate verb").
``escalate`` / ``bind``
    ``escalate`` plus a write on roles, or ``bind`` plus a write on bindings, grants the subject
    any rule it likes in scope ("Escalate verb", "Bind verb"); ``bind`` limited by
    ``resourceNames`` counts only when a named role reads Secrets.
``token``
    ``create`` on ``serviceaccounts/token`` ("Token request"), or ``create`` on secrets
    together with any read of secrets (mint a ``kubernetes.io/service-account-token`` Secret and
    read it).
``nodes-proxy``
    ``get``/``create`` on ``nodes/proxy``: the kubelet API executes in every pod
    ("Access to proxy subresource of Nodes").
``csr``
    ``create`` CSRs, ``update`` their ``approval`` and ``approve`` the
    ``kubernetes.io/kube-apiserver-client`` signer: a client certificate for any identity
    ("CSRs and certificate issuing").
``webhook``
    writing admission webhook configurations receives every object admitted ("Control admission
    webhooks").

Cluster-scoped resources (users, groups, nodes, clusterroles, clusterrolebindings, CSRs,
signers, webhook configurations) are only granted by ClusterRoleBindings, whatever a
RoleBinding's rules say. ``create`` of a top-level object cannot be restricted by name, so a
``create`` rule with ``resourceNames`` grants nothing (Kubernetes RBAC docs, "Referring to
resources").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sealbox.audit.model import Location, ObjectRef
from sealbox.audit.rbac.graph import ALL_SCOPES, BoundRule, Grant, Identity
from sealbox.audit.rbac.rules import Rule, matches_any_name

__all__ = [
    "TERMINAL_FAMILIES",
    "Hit",
    "Link",
    "PathGrant",
    "TargetSet",
    "hits_of",
    "intersect_scopes",
    "reads_secrets",
]

_RBAC = "rbac.authorization.k8s.io"
_CERTS = "certificates.k8s.io"
_ADMISSION = "admissionregistration.k8s.io"

# Families that read Secrets by themselves (the others only let the subject act as someone).
TERMINAL_FAMILIES = frozenset(
    ("list", "get", "workload", "exec", "escalate", "bind", "nodes-proxy", "csr", "webhook")
) | {"masters"}


@dataclass(frozen=True, slots=True)
class _Atom:
    name: str
    group: str
    resource: str
    subresource: str
    verbs: tuple[str, ...]
    named: bool  # does the request carry a name (so resourceNames can apply)?
    cluster_only: bool = False


def _atoms() -> tuple[_Atom, ...]:
    atoms = [
        _Atom("read", "", "secrets", "", ("list", "watch", "get"), True),
        _Atom("create-secrets", "", "secrets", "", ("create",), False),
        _Atom("workload", "", "pods", "", ("create",), False),
    ]
    controllers = [
        ("apps", r) for r in ("deployments", "replicasets", "statefulsets", "daemonsets")
    ]
    controllers += [("batch", "jobs"), ("batch", "cronjobs"), ("", "replicationcontrollers")]
    for group, resource in controllers:
        atoms.append(_Atom("workload", group, resource, "", ("create",), False))
        atoms.append(_Atom("workload", group, resource, "", ("update", "patch"), True))
    atoms += [
        _Atom("exec", "", "pods", "exec", ("create", "get"), True),
        _Atom("exec", "", "pods", "attach", ("create", "get"), True),
        _Atom("exec", "", "pods", "ephemeralcontainers", ("update", "patch"), True),
        _Atom("impersonate-users", "", "users", "", ("impersonate",), True, True),
        _Atom("impersonate-groups", "", "groups", "", ("impersonate",), True, True),
        _Atom("impersonate-sa", "", "serviceaccounts", "", ("impersonate",), True),
        _Atom("escalate-roles", _RBAC, "roles", "", ("escalate",), True),
        _Atom("escalate-clusterroles", _RBAC, "clusterroles", "", ("escalate",), True, True),
        _Atom("write-roles", _RBAC, "roles", "", ("create",), False),
        _Atom("write-roles", _RBAC, "roles", "", ("update", "patch"), True),
        _Atom("write-clusterroles", _RBAC, "clusterroles", "", ("create",), False, True),
        _Atom("write-clusterroles", _RBAC, "clusterroles", "", ("update", "patch"), True, True),
        _Atom("bind-roles", _RBAC, "roles", "", ("bind",), True),
        _Atom("bind-clusterroles", _RBAC, "clusterroles", "", ("bind",), True),
        _Atom("write-rolebindings", _RBAC, "rolebindings", "", ("create",), False),
        _Atom("write-rolebindings", _RBAC, "rolebindings", "", ("update", "patch"), True),
        _Atom("write-crbs", _RBAC, "clusterrolebindings", "", ("create",), False, True),
        _Atom("write-crbs", _RBAC, "clusterrolebindings", "", ("update", "patch"), True, True),
        _Atom("sa-token", "", "serviceaccounts", "token", ("create",), True),
        _Atom("nodes-proxy", "", "nodes", "proxy", ("get", "create"), True, True),
        _Atom("csr-create", _CERTS, "certificatesigningrequests", "", ("create",), False, True),
        _Atom(
            "csr-approve",
            _CERTS,
            "certificatesigningrequests",
            "approval",
            ("update", "patch"),
            True,
            True,
        ),
        _Atom("signer-approve", _CERTS, "signers", "", ("approve",), True, True),
    ]
    for resource in ("mutatingwebhookconfigurations", "validatingwebhookconfigurations"):
        atoms.append(_Atom("webhook", _ADMISSION, resource, "", ("create",), False, True))
        atoms.append(_Atom("webhook", _ADMISSION, resource, "", ("update", "patch"), True, True))
    return tuple(atoms)


_ATOMS = _atoms()
_VERBS = frozenset(v for atom in _ATOMS for v in atom.verbs)


@dataclass(frozen=True, slots=True)
class Link:
    """One step of a chain: the binding, the role it references and the rule used."""

    binding: ObjectRef
    binding_location: Location
    role: ObjectRef
    rule_index: int
    rule_location: Location
    source: ObjectRef | None = None  # the ClusterRole the rule was aggregated from

    def __str__(self) -> str:
        binding = self.binding
        name = f"{binding.namespace}/{binding.name}" if binding.namespace else binding.name
        rule = f"rule {self.rule_index}"
        if self.source is not None:
            rule += f" of {self.source}"
        return f"{binding.kind} {name} -> {self.role} ({rule})"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "binding": str(self.binding),
            "bindingLocation": str(self.binding_location),
            "role": str(self.role),
            "rule": self.rule_index,
            "ruleLocation": str(self.rule_location),
        }
        if self.source is not None:
            out["aggregatedFrom"] = str(self.source)
        return out


@dataclass(frozen=True, slots=True)
class Hit:
    """A rule of a grant that gives one atom: ``verb`` on ``resource`` in ``scope``."""

    atom: str
    verb: str
    resource: str
    scope: str
    names: frozenset[str] | None
    link: Link
    wildcards: tuple[str, ...] = ()

    @property
    def how(self) -> str:
        return f"{self.verb} {self.resource}"


@dataclass(frozen=True, slots=True)
class TargetSet:
    """Identities a path lets the subject act as; ``key`` identifies equal sets cheaply."""

    key: str
    members: tuple[Identity, ...]


@dataclass(frozen=True, slots=True)
class PathGrant:
    """One way one subject reaches Secrets (``names``: Secrets for reads, pods for exec)."""

    family: str
    how: str
    scope: str
    links: tuple[Link, ...]
    names: frozenset[str] | None = None
    targets: TargetSet | None = None
    wildcards: tuple[str, ...] = field(default=(), compare=False)

    @property
    def binding(self) -> ObjectRef | None:
        return self.links[0].binding if self.links else None


def _link(grant: Grant, bound: BoundRule) -> Link:
    source = bound.source if bound.source != grant.role else None
    return Link(
        grant.binding,
        grant.binding_location,
        grant.role,
        bound.rule.index,
        bound.rule.location,
        source,
    )


_CLASSIFIED: dict[Rule, tuple[tuple[_Atom, str], ...]] = {}


def _classify(rule: Rule) -> tuple[tuple[_Atom, str], ...]:
    """(atom, verb) pairs the rule grants for some name, cached per rule."""
    cached = _CLASSIFIED.get(rule)
    if cached is not None:
        return cached
    found: list[tuple[_Atom, str]] = []
    if rule.resources and ("*" in rule.verbs or _VERBS.intersection(rule.verbs)):
        for atom in _ATOMS:
            if not atom.named and rule.resource_names:
                continue
            for verb in atom.verbs:
                if matches_any_name(rule, verb, atom.group, atom.resource, atom.subresource):
                    found.append((atom, verb))
    result = tuple(found)
    if len(_CLASSIFIED) > 100_000:
        _CLASSIFIED.clear()
    _CLASSIFIED[rule] = result
    return result


def hits_of(grants: Iterable[Grant]) -> dict[str, list[Hit]]:
    """All atoms the grants give, by atom name, in grant and rule order."""
    out: dict[str, list[Hit]] = {}
    for grant in grants:
        for bound in grant.rules:
            for atom, verb in _classify(bound.rule):
                if atom.cluster_only and grant.scope != ALL_SCOPES:
                    continue
                resource = atom.resource + (f"/{atom.subresource}" if atom.subresource else "")
                names = bound.rule.names if atom.named else None
                hit = Hit(
                    atom.name,
                    verb,
                    resource,
                    grant.scope,
                    names,
                    _link(grant, bound),
                    bound.rule.wildcards,
                )
                out.setdefault(atom.name, []).append(hit)
    return out


def intersect_scopes(first: str, second: str) -> str | None:
    """The scope where two grants both apply (``*`` is every namespace)."""
    if first == ALL_SCOPES:
        return second
    if second in (ALL_SCOPES, first):
        return first
    return None


def reads_secrets(rules: Iterable[BoundRule]) -> bool:
    """True when a role's rules read Secrets directly or start pods (for named ``bind``)."""
    for bound in rules:
        for atom, _ in _classify(bound.rule):
            if atom.name in ("read", "workload"):
                return True
    return False
