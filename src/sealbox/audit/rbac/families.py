"""Combine the atoms of one subject into path grants, family by family.

The atoms and the facts behind each family are described in
:mod:`sealbox.audit.rbac.capabilities`. This module does the combining: pairing ``escalate``
with a write on roles, ``bind`` with a write on bindings, minting a token Secret with reading
it, the three CSR permissions; and it resolves whom a subject can act as (its target sets).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace

from sealbox.audit.rbac.capabilities import (
    Hit,
    Link,
    PathGrant,
    TargetSet,
    hits_of,
    intersect_scopes,
    reads_secrets,
)
from sealbox.audit.rbac.graph import ALL_SCOPES, MASTERS, Grant, Identity, RbacGraph, user_identity

__all__ = ["Targets", "path_grants"]

_CLIENT_SIGNERS = frozenset({"kubernetes.io/kube-apiserver-client", "kubernetes.io/*"})
_WRITES_BY_NAME = ("update", "patch")


def _names_key(names: frozenset[str] | None) -> str:
    return "*" if names is None else ",".join(sorted(names))


class Targets:
    """Target sets of a graph, built once each and shared by every path grant using them."""

    def __init__(self, graph: RbacGraph) -> None:
        self._graph = graph
        self._cache: dict[str, TargetSet] = {}

    def _get(self, key: str, build: Iterable[Identity]) -> TargetSet:
        found = self._cache.get(key)
        if found is None:
            found = TargetSet(key, tuple(dict.fromkeys(build)))
            self._cache[key] = found
        return found

    def accounts(self, scope: str, names: frozenset[str] | None = None) -> TargetSet:
        """Service accounts in scope (all of them, or those called ``names``)."""
        key = f"sa:{scope}:{_names_key(names)}"
        if key in self._cache:
            return self._cache[key]
        if names is None:
            return self._get(key, self._graph.service_accounts(scope))
        if scope == ALL_SCOPES:
            return self._get(key, self._graph.service_accounts(scope, names))
        return self._get(key, (Identity("ServiceAccount", n, scope) for n in sorted(names)))

    def pod_accounts(self, scope: str, pods: frozenset[str] | None = None) -> TargetSet:
        """Service accounts whose token is mounted in the input's pods in scope."""
        key = f"pods:{scope}:{_names_key(pods)}"
        if key in self._cache:
            return self._cache[key]
        members = (
            Identity("ServiceAccount", p.service_account, p.namespace)
            for p in self._graph.pods.in_scope(scope)
            if p.token and (pods is None or (p.is_pod and p.name in pods))
        )
        return self._get(key, sorted(members))

    def users(self, names: frozenset[str] | None) -> TargetSet:
        key = f"users:{_names_key(names)}"
        if key in self._cache:
            return self._cache[key]
        if names is None:
            return self._get(key, self._graph.identities("User"))
        found = (user_identity(n) for n in sorted(names))
        return self._get(key, (i for i in found if i.kind == "User"))

    def groups(self, names: frozenset[str] | None) -> TargetSet:
        key = f"groups:{_names_key(names)}"
        if key in self._cache:
            return self._cache[key]
        if names is None:
            return self._get(key, [MASTERS, *self._graph.identities("Group")])
        return self._get(key, (Identity("Group", n) for n in sorted(names)))


def _by_link(hits: Sequence[Hit]) -> Iterator[Hit]:
    """The first hit of each rule (atoms are listed in order of preference)."""
    seen: set[Link] = set()
    for hit in hits:
        if hit.link not in seen:
            seen.add(hit.link)
            yield hit


def _compatible(escalate: Hit, write: Hit) -> bool:
    """Can ``escalate`` be used with ``write`` (names on escalate apply to the written role)?"""
    if escalate.names is None:
        return True
    if write.verb not in _WRITES_BY_NAME:
        return False
    return write.names is None or bool(escalate.names & write.names)


def _bind_reads(graph: RbacGraph, hit: Hit, scope: str) -> bool:
    """Does ``bind`` (maybe limited to names) reach a role that reads Secrets?"""
    if hit.names is None:
        return True
    for name in sorted(hit.names):
        if hit.resource == "clusterroles":
            rules = graph.cluster_role_rules(name)
            if rules is not None and reads_secrets(rules):
                return True
        elif scope == ALL_SCOPES:
            if any(reads_secrets(rules) for rules in graph.roles_named(name)):
                return True
        else:
            rules = graph.role_rules(scope, name)
            if rules is not None and reads_secrets(rules):
                return True
    return False


def _pairs(firsts: Sequence[Hit], seconds: Sequence[Hit]) -> Iterator[tuple[Hit, Hit, str]]:
    for first in firsts:
        for second in seconds:
            scope = intersect_scopes(first.scope, second.scope)
            if scope is not None:
                yield first, second, scope


def path_grants(
    graph: RbacGraph, targets: Targets, subject: Identity, grants: Sequence[Grant]
) -> tuple[PathGrant, ...]:
    """Every path grant the subject holds through ``grants`` (its own bindings)."""
    hits = hits_of(grants)
    out: list[PathGrant] = []
    if subject == MASTERS:
        out.append(PathGrant("masters", "system:masters", ALL_SCOPES, ()))
    for hit in hits.get("read", ()):
        family = "list" if hit.verb != "get" and hit.names is None else "get"
        out.append(
            PathGrant(family, hit.verb, hit.scope, (hit.link,), hit.names, None, hit.wildcards)
        )
    for hit in _by_link(hits.get("workload", ())):
        out.append(
            PathGrant(
                "workload", hit.how, hit.scope, (hit.link,), None, targets.accounts(hit.scope)
            )
        )
    for hit in _by_link(hits.get("exec", ())):
        accounts = targets.pod_accounts(hit.scope, hit.names)
        out.append(PathGrant("exec", hit.resource, hit.scope, (hit.link,), hit.names, accounts))
    for hit in _by_link(hits.get("nodes-proxy", ())):
        accounts = targets.pod_accounts(ALL_SCOPES)
        out.append(PathGrant("nodes-proxy", hit.resource, ALL_SCOPES, (hit.link,), None, accounts))
    out += _impersonation(hits, targets)
    out += _escalation(graph, hits)
    out += _tokens(hits, targets)
    out += _certificates(hits)
    for hit in _by_link(hits.get("webhook", ())):
        out.append(PathGrant("webhook", hit.how, ALL_SCOPES, (hit.link,)))
    unique: dict[tuple[object, ...], PathGrant] = {}
    for path in out:
        if len(set(path.links)) < len(path.links):  # a pair satisfied by a single rule
            path = replace(path, links=tuple(dict.fromkeys(path.links)))
        unique.setdefault((path.family, path.how, path.scope, path.links, path.names), path)
    return tuple(unique.values())


def _impersonation(hits: dict[str, list[Hit]], targets: Targets) -> Iterator[PathGrant]:
    # Impersonate-Group is refused unless a user (or service account) is impersonated too.
    can_user = bool(hits.get("impersonate-users") or hits.get("impersonate-sa"))
    for hit in hits.get("impersonate-users", ()):
        yield _impersonate(hit, targets.users(hit.names))
    if can_user:
        for hit in hits.get("impersonate-groups", ()):
            yield _impersonate(hit, targets.groups(hit.names))
    for hit in hits.get("impersonate-sa", ()):
        yield _impersonate(hit, targets.accounts(hit.scope, hit.names))


def _impersonate(hit: Hit, members: TargetSet) -> PathGrant:
    return PathGrant("impersonate", hit.how, hit.scope, (hit.link,), hit.names, members)


def _escalation(graph: RbacGraph, hits: dict[str, list[Hit]]) -> Iterator[PathGrant]:
    for kind in ("roles", "clusterroles"):
        seen: set[tuple[Link, str]] = set()
        for esc, write, scope in _pairs(
            hits.get(f"escalate-{kind}", ()), hits.get(f"write-{kind}", ())
        ):
            if _compatible(esc, write) and (esc.link, scope) not in seen:
                seen.add((esc.link, scope))
                yield PathGrant("escalate", f"escalate {kind}", scope, (esc.link, write.link))
    combos = (
        ("bind-roles", "write-rolebindings"),
        ("bind-clusterroles", "write-rolebindings"),
        ("bind-clusterroles", "write-crbs"),
    )
    seen_bind: set[tuple[Link, str]] = set()
    for bind_atom, write_atom in combos:
        for bind, write, scope in _pairs(hits.get(bind_atom, ()), hits.get(write_atom, ())):
            if write_atom == "write-crbs" and bind.scope != ALL_SCOPES:
                continue  # a ClusterRoleBinding is authorized against a cluster-wide bind
            if (bind.link, scope) in seen_bind or not _bind_reads(graph, bind, scope):
                continue
            seen_bind.add((bind.link, scope))
            yield PathGrant(
                "bind", f"bind {bind.resource}", scope, (bind.link, write.link), bind.names
            )


def _tokens(hits: dict[str, list[Hit]], targets: Targets) -> Iterator[PathGrant]:
    for hit in hits.get("sa-token", ()):
        members = targets.accounts(hit.scope, hit.names)
        yield PathGrant("token", hit.how, hit.scope, (hit.link,), hit.names, members)
    seen: set[tuple[Link, str]] = set()
    for create, read, scope in _pairs(hits.get("create-secrets", ()), hits.get("read", ())):
        if (create.link, scope) not in seen:
            seen.add((create.link, scope))
            how = "create secrets (service-account-token)"
            yield PathGrant(
                "token", how, scope, (create.link, read.link), None, targets.accounts(scope)
            )


def _certificates(hits: dict[str, list[Hit]]) -> Iterator[PathGrant]:
    creates = hits.get("csr-create", ())
    signers = [
        h for h in hits.get("signer-approve", ()) if h.names is None or h.names & _CLIENT_SIGNERS
    ]
    if not creates or not signers:
        return
    for hit in _by_link(hits.get("csr-approve", ())):
        links = (hit.link, signers[0].link, creates[0].link)
        yield PathGrant("csr", "approve certificatesigningrequests", ALL_SCOPES, links)
