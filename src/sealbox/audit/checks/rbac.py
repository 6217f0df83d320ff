"""RBAC controls (SBX-3xx): subjects that can read Secrets, directly or by an indirect path.

The analysis is :mod:`sealbox.audit.rbac`; this module turns its path grants into findings.
A finding is raised per subject, control, scope (a namespace, or ``*`` for all) and binding —
never per rule — located at the binding, so ``sealbox.io/ignore`` on the binding accepts it.
When several bindings grant the same path, each gets its own finding: removing one alone
would not close the path.

Which control applies:

* subjects that stand for (nearly) everyone — ``Group system:authenticated``,
  ``Group system:unauthenticated``, ``User system:anonymous``, ``Group system:serviceaccounts``
  — raise SBX-305 for any path, and a namespace's ``default`` service account raises SBX-306;
  they raise no other control, so one grant is reported once;
* every other subject raises the control of each path family it holds (SBX-301..317). ``get``
  (SBX-303) is not reported where the subject can list every Secret anyway. Impersonation and
  token paths (SBX-312, SBX-314) count only when an identity they reach reads Secrets
  without the subject's own help (a cycle back to the subject adds nothing).
* ``Group system:masters`` bypasses RBAC; bindings to it add nothing and raise nothing.

Subjects matching :attr:`RbacSettings.allowed_subjects` raise nothing (``who-can-read`` still
lists them). Messages name subjects, bindings, roles, rules and Secret *names* only.

Each cluster of the input (:func:`sealbox.audit.rbac.split_clusters`: every ``--cluster-root``,
else every entry kustomization, and the rest together) is analysed on its own, so a binding
only finds roles and service accounts of its own cluster. ``get`` without ``resourceNames`` in
every namespace is SBX-307 rather than SBX-303. Token paths (SBX-314) count only when an
account reached certainly reads Secret values (:attr:`RbacAnalysis.certain_hot`).
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import NamedTuple

from sealbox.audit.checks._rbac_controls import (
    BROAD_GROUP,
    CONTROLS,
    DEFAULT_SA,
    FAMILY_CONTROLS,
    GET_CLUSTER,
    GET_SECRETS,
    LIST_CLUSTER,
    LIST_NAMESPACE,
    WILDCARD,
)
from sealbox.audit.checks._rbac_messages import describe
from sealbox.audit.model import Control, Finding, Location, Manifest, ObjectRef
from sealbox.audit.rbac import (
    ALL_SCOPES,
    MASTERS,
    TERMINAL_FAMILIES,
    Identity,
    PathGrant,
    RbacAnalysis,
    split_clusters,
)
from sealbox.errors import InputError

__all__ = ["CONTROLS", "ClusterAnalyses", "RbacSettings", "check", "check_placement"]

# A namespace name: an RFC 1123 label.
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")

_BROAD = frozenset(
    {
        Identity("Group", "system:authenticated"),
        Identity("Group", "system:unauthenticated"),
        Identity("User", "system:anonymous"),
        Identity("Group", "system:serviceaccounts"),
    }
)
_REACH_FAMILIES = frozenset({"impersonate", "token"})


@dataclass(frozen=True, slots=True)
class RbacSettings:
    """Options of the RBAC controls.

    ``allowed_subjects`` are fnmatch patterns (case-sensitive) over ``Kind:name``, with
    ``namespace/name`` for service accounts: ``User:alice``, ``Group:platform-admins``,
    ``ServiceAccount:kube-system/*``, ``ServiceAccount:*/argocd-*``. A subject that matches
    raises no finding. ``scan_roots`` are the paths scanned (kustomizations are looked for
    in and up to them); ``cluster_roots`` the
    ``--cluster-root`` directories; ``namespace`` the ``--namespace`` for objects nothing
    else places.
    """

    allowed_subjects: tuple[str, ...] = ()
    scan_roots: tuple[str, ...] = ()
    cluster_roots: tuple[str, ...] = ()
    namespace: str | None = None

    def allows(self, subject: Identity) -> bool:
        key = subject.pattern_key
        return any(fnmatchcase(key, pattern) for pattern in self.allowed_subjects)


class _FindingKey(NamedTuple):
    """What one finding is about: a control, a subject, a scope, and the binding granting it.

    A tuple, since one is made and hashed for every path of every subject.
    """

    control: Control
    identity: Identity
    scope: str
    binding: ObjectRef
    location: Location


@dataclass
class _Paths:
    """The paths one finding reports, the ones folded into it, and the identities reached."""

    own: list[PathGrant] = field(default_factory=list)
    also: list[PathGrant] = field(default_factory=list)
    reached: dict[Identity, None] = field(default_factory=dict)


def check_placement(cluster_roots: Sequence[str], namespace: str | None) -> None:
    """InputError for a ``--cluster-root`` that is not a directory or a bad ``--namespace``."""
    for root in cluster_roots:
        if not os.path.isdir(root):
            raise InputError(
                f"--cluster-root {root}: not a directory; give a directory that holds the "
                "manifests of one cluster"
            )
    if namespace is not None and not _NAMESPACE.fullmatch(namespace):
        raise InputError(
            f"--namespace {namespace!r}: not a namespace name (lowercase letters, digits and "
            "'-', at most 63, starting and ending with a letter or digit)"
        )


class ClusterAnalyses:
    """The input's clusters, split once, and each one's RBAC analysis, built once on first use:
    the RBAC controls and SBX-108 (which tokens read Secrets) ask the same questions of them."""

    def __init__(self, manifests: Sequence[Manifest], settings: RbacSettings) -> None:
        self.clusters = split_clusters(
            manifests, settings.scan_roots, settings.cluster_roots, settings.namespace
        )
        self._analyses: dict[int, RbacAnalysis] = {}

    def analysis(self, index: int) -> RbacAnalysis:
        """The analysis of ``self.clusters[index]``."""
        if index not in self._analyses:
            cluster = self.clusters[index]
            self._analyses[index] = RbacAnalysis(cluster.manifests, cluster.namespaces)
        return self._analyses[index]


def check(
    manifests: Sequence[Manifest],
    settings: RbacSettings,
    analyses: ClusterAnalyses | None = None,
) -> Iterator[Finding]:
    """Findings for every subject outside the allowlist that has a path to Secret values
    (``analyses``: the input's, when another check has already split it)."""
    analyses = analyses or ClusterAnalyses(manifests, settings)
    findings: dict[tuple[str, Location, ObjectRef | None, str], Finding] = {}
    for index in range(len(analyses.clusters)):
        for finding in _cluster_findings(analyses.analysis(index), settings):
            key = (finding.control.id, finding.location, finding.obj, finding.message)
            findings.setdefault(key, finding)
    ordered = sorted(
        findings.values(),
        key=lambda f: (f.location.path, f.location.line, f.control.id, f.message),
    )
    yield from ordered


def _cluster_findings(analysis: RbacAnalysis, settings: RbacSettings) -> Iterator[Finding]:
    assumed = {
        (grant.subject, grant.binding, grant.binding_location)
        for grant in analysis.graph.grants
        if grant.namespace_assumed
    }
    groups: defaultdict[_FindingKey, _Paths] = defaultdict(_Paths)
    for subject in analysis.graph.subjects:
        if subject == MASTERS or settings.allows(subject):
            continue
        for control, scope, path, reached, also in _classify(analysis, subject):
            link = path.links[0]
            key = _FindingKey(
                control=control,
                identity=subject,
                scope=scope,
                binding=link.binding,
                location=link.binding_location,
            )
            group = groups[key]
            (group.also if also else group.own).append(path)
            group.reached.update(dict.fromkeys(reached))
    for key, group in groups.items():
        if group.own:
            flagged = (key.identity, key.binding, key.location) in assumed
            yield _finding(key, group, flagged)


_Item = tuple[Control, str, PathGrant, tuple[Identity, ...], bool]


def _binding_key(path: PathGrant) -> tuple[ObjectRef, Location]:
    return path.links[0].binding, path.links[0].binding_location


def _classify(analysis: RbacAnalysis, subject: Identity) -> Iterator[_Item]:
    """(control, scope, path, identities reached, folded into the list finding) per path.

    A path whose binding also lets the subject list every Secret of a covering scope is
    folded into that list finding (as ``alsoAllows``): the same binding, the same fix.
    """
    paths = analysis.own(subject)
    list_scopes: dict[tuple[ObjectRef, Location], set[str]] = {}
    for path in paths:
        if path.family == "list":
            list_scopes.setdefault(_binding_key(path), set()).add(path.scope)
    any_list = {scope for scopes in list_scopes.values() for scope in scopes}
    broad = subject in _BROAD
    default = subject.kind == "ServiceAccount" and subject.name == "default"
    readers: set[Identity] | None = None
    for path in paths:
        reached: tuple[Identity, ...] = ()
        if path.family in _REACH_FAMILIES:
            members = path.targets.members if path.targets is not None else ()
            hot = analysis.certain_hot if path.family == "token" else analysis.hot
            if not any(m in hot for m in members):
                continue
            reached = tuple(m for m in members if m in analysis.readers and m != subject)
            if not reached:  # only through others: make sure it does not cycle back
                if readers is None:
                    readers = analysis.hot_without(subject)
                reached = tuple(m for m in members if m in readers)
            if path.family == "token":  # the token must lead to a certain read
                reached = tuple(m for m in reached if m in hot)
            if not reached:
                continue
        elif path.family not in TERMINAL_FAMILIES:
            continue
        if broad or default:
            yield (BROAD_GROUP if broad else DEFAULT_SA), path.scope, path, reached, False
            continue
        if path.family in ("list", "get") and path.wildcards:
            yield WILDCARD, path.scope, path, (), False
        if path.family == "list":
            yield _list_control(path.scope), path.scope, path, (), False
            continue
        if ALL_SCOPES in any_list or path.scope in any_list:
            covering = list_scopes.get(_binding_key(path), set())
            if path.family != "get" and covering:
                scope = ALL_SCOPES if ALL_SCOPES in covering else path.scope
                if scope in covering:
                    yield _list_control(scope), scope, path, reached, True
                    continue
            if path.family == "get":
                continue  # list already reveals every Secret that get could
        control = _get_control(path) if path.family == "get" else FAMILY_CONTROLS[path.family]
        yield control, path.scope, path, reached, False


def _list_control(scope: str) -> Control:
    return LIST_CLUSTER if scope == ALL_SCOPES else LIST_NAMESPACE


def _get_control(path: PathGrant) -> Control:
    """Any name in every namespace is SBX-307: names are predictable."""
    return GET_CLUSTER if path.scope == ALL_SCOPES and path.names is None else GET_SECRETS


def _finding(key: _FindingKey, paths: _Paths, assumed: bool) -> Finding:
    message, details = describe(
        key.control.id,
        key.identity,
        key.scope,
        paths.own,
        also=paths.also,
        reached=paths.reached,
        namespace_assumed=assumed,
        anchor=key.location.path,
    )
    return Finding(key.control, message, key.location, key.binding, details)
