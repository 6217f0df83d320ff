"""The order a report lists findings in, and duplicated bundles collapsed into one finding.

A reader works down a report from the top, so the top must be what exposes most: severity first,
then the *blast radius*, and only then the file and line. The blast radius is ranked from what a
finding carries:

1. its scope: cluster-wide (a ClusterRoleBinding, a grant in every namespace, an apiserver config)
   before namespaced, before unknown (a Helm values file);
2. its subject: everyone (``system:authenticated``, ``system:anonymous``, all service accounts)
   first, then people (Users and Groups), then workloads' ServiceAccounts, then the cluster's own
   controllers (ServiceAccounts in ``kube-system``, other ``system:`` subjects), whose access is
   expected more often than not. A finding without a subject ranks with workloads.

A check that knows its scope and subject sets ``Finding.scope``/``Finding.subject``; otherwise
they are inferred here from ``details`` (the RBAC checks put ``subject`` and ``scope`` there) and
from the object's kind and namespace.

The same manifests are often committed more than once (a chart vendored in two places, an
overlay copied per environment). :func:`collapse` keeps one finding per control, object and
message, and records the other files in ``Finding.also``, so a report says "also in 3 files"
instead of repeating itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from sealbox.audit.model import Finding, ObjectRef

__all__ = ["CLUSTER", "NAMESPACE", "blast_radius", "collapse", "finding_scope", "order_key"]

CLUSTER = "cluster"
NAMESPACE = "namespace"

_CLUSTER_KINDS = frozenset(
    {
        "ClusterRole",
        "ClusterRoleBinding",
        "Namespace",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "CustomResourceDefinition",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "APIService",
        "ClusterSecretStore",
        "PriorityClass",
        "RuntimeClass",
        "CSIDriver",
        "IngressClass",
        "CertificateSigningRequest",
    }
)
# Areas whose findings are about the apiserver itself: they hold for every Secret in the cluster.
_CLUSTER_AREAS = frozenset({"encryption", "audit-policy", "audit-log"})
_EVERYONE = frozenset(
    {
        "system:authenticated",
        "system:unauthenticated",
        "system:anonymous",
        "system:serviceaccounts",
    }
)
# A place a message names, such as the binding and rule of an RBAC path: "(rbac/role.yaml:12)".
_PLACE = re.compile(r"\((?:[^()\s]*/)?[^()\s/]+\.(?:ya?ml|json)(?::\d+)?\)")
_SCOPE_RANK = {CLUSTER: 0, NAMESPACE: 1}
_UNKNOWN_SCOPE = 2
_EVERYONE_RANK, _PEOPLE_RANK, _WORKLOAD_RANK, _CONTROLLER_RANK = range(4)


def finding_scope(finding: Finding) -> str | None:
    """``"cluster"``, ``"namespace"`` or None (unknown), as set or as inferred."""
    if finding.scope in _SCOPE_RANK:
        return finding.scope
    scope = finding.details.get("scope")
    if scope in ("*", CLUSTER):
        return CLUSTER
    if isinstance(scope, str) and scope:
        return NAMESPACE
    obj = finding.obj
    if obj is not None:
        if obj.kind in _CLUSTER_KINDS:
            return CLUSTER
        return NAMESPACE  # namespaced, even if the namespace comes at apply time
    if finding.control.area in _CLUSTER_AREAS:
        return CLUSTER
    return None


def finding_subject(finding: Finding) -> ObjectRef | None:
    """The subject holding the access, as set or as found in ``details["subject"]``."""
    if finding.subject is not None:
        return finding.subject
    raw: Any = finding.details.get("subject")
    if raw is None:
        return None
    if isinstance(raw, dict | Mapping) and isinstance(raw.get("kind"), str):
        namespace = raw.get("namespace")
        return ObjectRef(
            raw["kind"], namespace if isinstance(namespace, str) else None, str(raw.get("name"))
        )
    return None


def blast_radius(finding: Finding) -> tuple[int, int]:
    """(scope rank, subject rank): smaller reaches further, and is listed first."""
    scope = finding_scope(finding)
    scope_rank = _SCOPE_RANK.get(scope, _UNKNOWN_SCOPE) if scope else _UNKNOWN_SCOPE
    return scope_rank, _subject_rank(finding_subject(finding))


def _subject_rank(subject: ObjectRef | None) -> int:
    if subject is None:
        return _WORKLOAD_RANK
    name = subject.name
    if name in _EVERYONE:
        return _EVERYONE_RANK
    if subject.kind == "ServiceAccount":
        return _CONTROLLER_RANK if subject.namespace == "kube-system" else _WORKLOAD_RANK
    if name.startswith("system:serviceaccount:kube-system:"):
        return _CONTROLLER_RANK
    if name.startswith("system:serviceaccounts:") or name.startswith("system:serviceaccount:"):
        return _WORKLOAD_RANK
    if name.startswith("system:"):
        return _CONTROLLER_RANK
    return _PEOPLE_RANK


def order_key(finding: Finding) -> tuple[Any, ...]:
    """The report order: severity, blast radius, then file, line, control and message."""
    where = finding.location
    scope_rank, subject_rank = blast_radius(finding)
    return (
        -finding.severity,
        scope_rank,
        subject_rank,
        where.path,
        where.line,
        finding.control.id,
        finding.message,
    )


def collapse(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per control, object and message, raised in several files: the first one kept,
    the others' locations in its ``also``, in input order.

    Only findings about an object collapse, and only across files: the same object (kind,
    namespace, name) in two files is one object applied twice, while two findings in one file,
    or two without an object (two values files with the same key), are two things to fix. The
    places a message names (``(overlay-a/rbac.yaml:12)``) are not compared: in each copy they
    point into that copy.
    """
    kept: list[Finding] = []
    first: dict[tuple[str, ObjectRef, str], int] = {}
    others: dict[int, dict[str, Any]] = {}
    for finding in findings:
        if finding.obj is None:
            kept.append(finding)
            continue
        key = (finding.control.id, finding.obj, _PLACE.sub("(…)", finding.message))
        index = first.get(key)
        if index is None:
            first[key] = len(kept)
            kept.append(finding)
            continue
        head = kept[index]
        seen = others.setdefault(index, {head.location.path: None})
        path = finding.location.path
        if path in seen:
            kept.append(finding)  # same file: a distinct place, not a duplicate bundle
            continue
        seen[path] = None
        kept[index] = replace(head, also=(*head.also, finding.location, *finding.also))
    return kept
