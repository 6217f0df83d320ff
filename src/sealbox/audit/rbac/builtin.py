"""The default ClusterRoles every cluster has, for bindings whose role is not in the input.

A GitOps repository binds ``cluster-admin``, ``admin`` or ``edit`` without defining them: the
API server creates them at start-up (kubernetes/kubernetes
``plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go``). Ignoring such bindings would hide
the most common grants of Secret access, so these definitions stand in for any of them that
the input does not define itself (an input definition always wins).

Only the rules that matter to Secret access are reproduced. ``admin``, ``edit`` and ``view``
are aggregated ClusterRoles, as upstream: ``edit`` gathers ``system:aggregate-to-edit`` and
``view``, ``admin`` gathers ``edit`` and ``system:aggregate-to-admin``, and ClusterRoles of the
input labelled ``rbac.authorization.k8s.io/aggregate-to-*`` join them as they would in a cluster.
Every other role a binding names and the input lacks is unresolved; such a binding is skipped.
"""

from __future__ import annotations

from typing import Any

from sealbox.audit.model import Location, Manifest

__all__ = ["BUILTIN_LOCATION", "builtin_cluster_roles"]

BUILTIN_LOCATION = Location("(built-in)")
_LABEL = "rbac.authorization.k8s.io/aggregate-to-"
_READ = ["get", "list", "watch"]
_WRITE = ["create", "update", "patch", "delete", "deletecollection"]


def _role(
    name: str,
    rules: list[dict[str, Any]],
    labels: tuple[str, ...] = (),
    aggregate: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {f"{_LABEL}{label}": "true" for label in labels}},
        "rules": rules,
    }
    if aggregate is not None:
        selector = {"matchLabels": {f"{_LABEL}{aggregate}": "true"}}
        body["aggregationRule"] = {"clusterRoleSelectors": [selector]}
    return body


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


_EDIT_RULES = [
    _rule(
        [""],
        ["pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets", "services/proxy"],
        _READ,
    ),
    _rule([""], ["serviceaccounts"], ["impersonate"]),
    _rule([""], ["pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward"], _WRITE),
    _rule(
        [""],
        ["replicationcontrollers", "serviceaccounts", "services", "configmaps", "secrets"],
        _WRITE,
    ),
    _rule([""], ["serviceaccounts/token"], ["create"]),
    _rule(["apps"], ["statefulsets", "daemonsets", "deployments", "replicasets"], _WRITE),
    _rule(["batch"], ["jobs", "cronjobs"], _WRITE),
]

_BODIES: tuple[dict[str, Any], ...] = (
    _role(
        "cluster-admin",
        [_rule(["*"], ["*"], ["*"]), {"nonResourceURLs": ["*"], "verbs": ["*"]}],
    ),
    _role("admin", [], aggregate="admin"),
    _role("edit", [], labels=("admin",), aggregate="edit"),
    _role("view", [], labels=("edit",), aggregate="view"),
    _role(
        "system:aggregate-to-admin",
        [_rule(["rbac.authorization.k8s.io"], ["roles", "rolebindings"], _READ + _WRITE)],
        labels=("admin",),
    ),
    _role("system:aggregate-to-edit", _EDIT_RULES, labels=("edit",)),
    _role(
        "system:aggregate-to-view",
        [_rule([""], ["pods", "configmaps", "services", "serviceaccounts"], _READ)],
        labels=("view",),
    ),
)


def builtin_cluster_roles() -> tuple[Manifest, ...]:
    """Fresh manifests for the default ClusterRoles (located at ``(built-in)``)."""
    return tuple(
        Manifest(
            body=body,
            location=BUILTIN_LOCATION,
            kind="ClusterRole",
            api_version="rbac.authorization.k8s.io/v1",
            name=body["metadata"]["name"],
            namespace=None,
        )
        for body in _BODIES
    )
