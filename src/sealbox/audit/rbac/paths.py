"""Who can read a Secret, and how: direct grants, indirect paths and identities acted as.

:class:`RbacAnalysis` builds the graph once and keeps, per identity, its path grants
(:mod:`sealbox.audit.rbac.families`). A path grant either reads Secrets by itself (a *terminal*
family: ``list``, ``get``, ``workload``, ``exec``, ...) or lets the subject act as other
identities (``impersonate``, ``token``; starting or entering pods also lends their service
accounts). Acting as someone gives that identity's paths and those of its implicit groups, so
reachability is computed transitively; every identity and every target set is visited once,
which ends cycles (A impersonates B impersonates A) and bounds the work per path.

Reading ``namespace/name``:

* ``list``/``watch`` without ``resourceNames`` read every Secret in scope; ``get``, and
  ``list``/``watch`` restricted by name (with a ``metadata.name`` field selector), read it only
  when ``name`` is listed or no names are given;
* ``workload``, ``escalate``, ``bind`` and ``csr`` read every Secret in scope;
* ``exec`` and ``nodes/proxy`` read it from inside pods that mount it: the workloads of the
  input that do are named, otherwise the path is reported as possible. ``pods/exec`` limited
  to named pods counts only if such a Pod in the input mounts it, or no such Pod is in the input;
* ``webhook`` receives it when it is next created or updated;
* ``Group system:masters`` bypasses RBAC and is always listed.

Once a subject reads the Secret for certain (``get``/``list``/``watch``, pods, escalate, bind,
CSR approval, masters), the identities it could act as are not listed: they add no access.
Otherwise each of its acting-as paths is shown with one example: the nearest identity (fewest
steps, then a fixed order) that reads the Secret, and that identity's ways of reading it.
The Secret need not be in the input; only its namespace and name are used. The name ``*``
(:data:`ANY_NAME`) asks who can read some Secret of the namespace: ``get`` restricted to
other names then counts too, and its note names the Secrets it is limited to.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sealbox.audit.model import Manifest
from sealbox.audit.rbac.access import ReadAccess
from sealbox.audit.rbac.capabilities import TERMINAL_FAMILIES, Link, PathGrant
from sealbox.audit.rbac.families import Targets, path_grants
from sealbox.audit.rbac.graph import ALL_SCOPES, MASTERS, Identity, RbacGraph
from sealbox.audit.rbac.namespaces import Namespaces
from sealbox.audit.rbac.pods import PodInfo

__all__ = ["ANY_NAME", "CERTAIN_FAMILIES", "RbacAnalysis", "ReadAccess", "who_can_read"]

ANY_NAME = "*"
"""Pass as ``name`` to ask who can read *some* Secret of a namespace (per-namespace view)."""

CERTAIN_FAMILIES = frozenset({"list", "get", "workload", "escalate", "bind", "csr", "masters"})
_DIRECT = frozenset({"list", "get", "masters"})


@dataclass(frozen=True, slots=True)
class _Row:
    """A terminal path grant applied to one Secret."""

    path: PathGrant
    workloads: tuple[str, ...]
    note: str


def _covers(scope: str, namespace: str) -> bool:
    return scope in (ALL_SCOPES, namespace)


def _where(scope: str) -> str:
    return "in every namespace" if scope == ALL_SCOPES else f"in namespace {scope}"


def _path_key(path: PathGrant) -> tuple[Any, ...]:
    links = tuple((str(ln), str(ln.rule_location), str(ln.binding_location)) for ln in path.links)
    names = sorted(path.names) if path.names is not None else []
    return (path.family, path.how, path.scope, links, names)


def _step(path: PathGrant, target: Identity) -> str:
    if path.family == "impersonate":
        return f"impersonate {target}"
    if path.family == "workload":
        return f"run a pod as {target}"
    if path.family == "token":
        return f"obtain a token of {target}"
    return f"use the token mounted for {target}"


class RbacAnalysis:
    """The RBAC graph of some manifests with path grants and reachability, computed once."""

    def __init__(self, manifests: Sequence[Manifest], namespaces: Namespaces | None = None) -> None:
        self.graph = RbacGraph(manifests, namespaces)
        self._targets = Targets(self.graph)
        self._own: dict[Identity, tuple[PathGrant, ...]] = {}
        self._effective: dict[Identity, tuple[PathGrant, ...]] = {}
        self._nodes: list[Identity] | None = None
        self._sources: dict[str, list[Identity]] = {}
        self._member_of: dict[Identity, list[str]] = {}
        self._hot: frozenset[Identity] | None = None
        self._certain_hot: frozenset[Identity] | None = None
        self._terminal: set[Identity] | None = None

    # -- path grants -----------------------------------------------------------------------

    def own(self, identity: Identity) -> tuple[PathGrant, ...]:
        """Path grants from the bindings that name ``identity`` itself."""
        found = self._own.get(identity)
        if found is None:
            grants = self.graph.by_subject.get(identity, [])
            found = tuple(
                sorted(path_grants(self.graph, self._targets, identity, grants), key=_path_key)
            )
            self._own[identity] = found
        return found

    def effective(self, identity: Identity) -> tuple[PathGrant, ...]:
        """What acting as ``identity`` gives: its own grants and its implicit groups'."""
        found = self._effective.get(identity)
        if found is None:
            found = self.own(identity)
            for group in identity.implicit_groups():
                found += self.own(group)
            self._effective[identity] = found
        return found

    # -- reachability ----------------------------------------------------------------------

    def _index(self) -> list[Identity]:
        """All identities involved, and which target sets contain / are used by which."""
        if self._nodes is not None:
            return self._nodes
        nodes: dict[Identity, None] = dict.fromkeys(
            [*self.graph.subjects, *self.graph.service_accounts(ALL_SCOPES), MASTERS]
        )
        seen_sets: set[str] = set()
        queue = deque(nodes)
        while queue:
            node = queue.popleft()
            for path in self.effective(node):
                if path.targets is None:
                    continue
                key = path.targets.key
                self._sources.setdefault(key, []).append(node)
                if key in seen_sets:
                    continue
                seen_sets.add(key)
                for member in path.targets.members:
                    self._member_of.setdefault(member, []).append(key)
                    if member not in nodes:
                        nodes[member] = None
                        queue.append(member)
        self._nodes = list(nodes)
        return self._nodes

    def _closure(self, start: set[Identity], exclude: Identity | None = None) -> set[Identity]:
        """``start`` and every identity that can act as one of them, transitively.

        With ``exclude``, paths through that identity are not followed (it is not added).
        """
        self._index()
        found = set(start)
        if exclude is not None:
            found.discard(exclude)
        queue = deque(found)
        done_sets: set[str] = set()
        while queue:
            node = queue.popleft()
            for key in self._member_of.get(node, ()):
                if key in done_sets:
                    continue
                done_sets.add(key)
                for source in self._sources.get(key, ()):
                    if source not in found and source != exclude:
                        found.add(source)
                        queue.append(source)
        return found

    @property
    def readers(self) -> set[Identity]:
        """Identities whose own or inherited grants read Secrets by themselves."""
        return self._readers()

    def _readers(self) -> set[Identity]:
        if self._terminal is None:
            self._terminal = {
                node
                for node in self._index()
                if any(p.family in TERMINAL_FAMILIES for p in self.effective(node))
            }
        return self._terminal

    @property
    def hot(self) -> frozenset[Identity]:
        """Identities that can read some Secret, directly or by acting as someone who can."""
        if self._hot is None:
            self._hot = frozenset(self._closure(self._readers()))
        return self._hot

    @property
    def certain_hot(self) -> frozenset[Identity]:
        """Identities that certainly read Secret values (list, get, starting pods, escalate,
        bind, CSR approval, masters), directly or by acting as one that does.

        Unlike :attr:`hot`, paths that read Secrets only if some pod happens to mount them
        (exec, nodes/proxy) or only when they are next written (webhooks) do not count.
        """
        if self._certain_hot is None:
            certain = {
                node
                for node in self._index()
                if any(p.family in CERTAIN_FAMILIES for p in self.effective(node))
            }
            self._certain_hot = frozenset(self._closure(certain))
        return self._certain_hot

    def hot_without(self, identity: Identity) -> set[Identity]:
        """Identities that read Secrets without help from ``identity`` (no cycle back to it)."""
        return self._closure(self._readers(), exclude=identity)

    # -- one Secret ------------------------------------------------------------------------

    def _rows(self, paths: Sequence[PathGrant], namespace: str, name: str) -> Iterator[_Row]:
        for path in paths:
            if path.family not in TERMINAL_FAMILIES or not _covers(path.scope, namespace):
                continue
            row = self._row(path, namespace, name)
            if row is not None:
                yield row

    def _row(self, path: PathGrant, namespace: str, name: str) -> _Row | None:
        family, where = path.family, _where(path.scope)
        if family == "list":
            return _Row(path, (), f"{path.how} returns every Secret {where}")
        if family == "get":
            if path.names is None:
                return _Row(path, (), f"{path.how} any Secret by name {where}")
            if name == ANY_NAME:
                return _Row(path, (), f"{path.how} only Secret(s) {', '.join(sorted(path.names))}")
            if name not in path.names:
                return None
            return _Row(path, (), f"{path.how} restricted to resourceNames that include it")
        if family in ("exec", "nodes-proxy"):
            return self._pod_row(path, namespace, name)
        notes = {
            "workload": f"can start a pod that mounts any Secret {where}",
            "escalate": f"can grant itself any permission {where}",
            "bind": f"can bind itself to a role that reads Secrets {where}",
            "csr": "can get a client certificate for any identity, e.g. group system:masters",
            "webhook": "receives Secrets through an admission webhook when they are written",
            "masters": "group system:masters bypasses RBAC",
        }
        return _Row(path, (), notes[family])

    def _pod_row(self, path: PathGrant, namespace: str, name: str) -> _Row | None:
        pods = self.graph.pods.in_namespace(namespace)
        candidates: Sequence[PodInfo] = pods
        if path.family == "exec" and path.names is not None:
            candidates = [p for p in pods if p.is_pod and p.name in path.names]
        mounting = tuple(
            sorted(
                p.label
                for p in candidates
                if (p.secrets if name == ANY_NAME else name in p.secrets)
            )
        )
        if mounting:
            return _Row(path, mounting, "reads it inside pods that mount it")
        if path.family == "exec" and path.names is not None and candidates:
            return None  # the named pods are in the input and do not mount it
        return _Row(path, (), f"possible: only if a pod in namespace {namespace} mounts it")

    def who_can_read(self, namespace: str, name: str) -> list[ReadAccess]:
        """Every subject that can read Secret ``namespace/name``, with each path, sorted."""
        nodes = self._index()
        start = {
            n for n in nodes if any(True for _ in self._rows(self.effective(n), namespace, name))
        }
        reach = self._closure(start)
        out: list[ReadAccess] = []
        for subject in sorted({*self.graph.subjects, MASTERS}):
            rows = list(self._rows(self.own(subject), namespace, name))
            for row in rows:
                out.append(_access(subject, row.path, row, chain=row.path.links))
            if subject in reach and not any(r.path.family in CERTAIN_FAMILIES for r in rows):
                out += self._indirect(subject, reach, namespace, name)
        return sorted(out, key=ReadAccess.sort_key)

    def _indirect(
        self, subject: Identity, reach: set[Identity], namespace: str, name: str
    ) -> list[ReadAccess]:
        """For each way ``subject`` acts as others, the nearest identity that reads the Secret.

        Breadth-first from the path's targets through identities that lead to the Secret
        (``reach``); each identity and target set is expanded once per path, and the search
        stops at the first identity that reads it, so every path gets one shortest example.
        """
        out: list[ReadAccess] = []
        for first in self.own(subject):
            if first.targets is None:
                continue
            found = self._nearest(subject, first, reach, namespace=namespace, name=name)
            if found is not None:
                node_rows, via, links = found
                for row in node_rows:
                    out.append(_access(subject, first, row, via=via, chain=links + row.path.links))
        return out

    def _nearest(
        self,
        subject: Identity,
        first: PathGrant,
        reach: set[Identity],
        *,
        namespace: str,
        name: str,
    ) -> tuple[list[_Row], tuple[str, ...], tuple[Link, ...]] | None:
        visited: set[Identity] = {subject}
        done_sets: set[str] = set()
        queue: deque[tuple[Identity, tuple[str, ...], tuple[Link, ...]]] = deque()

        def expand(path: PathGrant, via: tuple[str, ...], links: tuple[Link, ...]) -> None:
            if path.targets is None or path.targets.key in done_sets:
                return
            done_sets.add(path.targets.key)
            for member in path.targets.members:
                if member in reach and member not in visited:
                    visited.add(member)
                    queue.append((member, (*via, _step(path, member)), links + path.links))

        expand(first, (), ())
        while queue:
            node, via, links = queue.popleft()
            rows = list(self._rows(self.effective(node), namespace, name))
            if rows:
                return rows, via, links
            for path in self.effective(node):
                expand(path, via, links)
        return None


def _access(
    subject: Identity,
    first: PathGrant,
    row: _Row,
    *,
    via: tuple[str, ...] = (),
    chain: tuple[Link, ...],
) -> ReadAccess:
    note = row.note if not via else f"{'; '.join(via)}; then: {row.note}"
    return ReadAccess(
        subject_kind=subject.kind,
        subject_name=subject.name,
        subject_namespace=subject.namespace if subject.kind == "ServiceAccount" else None,
        how=first.how,
        reads=row.path.how,
        direct=not via and first.family in _DIRECT,
        scope=first.scope,
        family=first.family,
        chain=chain,
        via=via,
        workloads=row.workloads,
        note=note,
    )


def who_can_read(manifests: Sequence[Manifest], namespace: str, name: str) -> list[ReadAccess]:
    """Every subject that can read Secret ``namespace/name`` in ``manifests``, and how.

    ``name`` may be ``*`` (:data:`ANY_NAME`) for any Secret of the namespace.
    """
    return RbacAnalysis(manifests).who_can_read(namespace, name)
