"""The sync controller's RBAC (deploy/sync/rbac.yaml), asked of a real kube-apiserver.

The rendered RBAC is created for real in a namespace of this module's own (standing in for
kube-system; cluster-scoped names get that namespace as a suffix so nothing else in the session's
apiserver is touched), then ``kubectl auth can-i --as`` says what the controller's ServiceAccount
may do: everything the controller needs, and nothing that would let it write its own inputs or
grow its own rights.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import DEPLOY, render
from tests.integration.kube_apiserver import KubeApiserver

pytestmark = pytest.mark.integration

SYNC = DEPLOY / "sync"
HOME = "kube-system"  # where the manifests put the controller
ACCOUNT = "sealbox-sync"
RBAC_KINDS = {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
ES = "externalsecrets.external-secrets.io"
SS = "secretstores.external-secrets.io"
CSS = "clustersecretstores.external-secrets.io"


@dataclass(frozen=True)
class Installed:
    server: KubeApiserver
    namespace: str  # the controller's namespace (kube-system in the manifests)
    other: str  # a namespace where ExternalSecrets and their consumers might be

    @property
    def account(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{ACCOUNT}"

    def can(self, *args: str) -> bool:
        result = self.server.kubectl("auth", "can-i", *args, f"--as={self.account}", check=False)
        assert result.stdout.strip() in ("yes", "no"), result.stdout + result.stderr
        return result.stdout.strip() == "yes"


def _moved(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """``obj`` with kube-system replaced by ``namespace`` and cluster-wide names made unique."""
    moved: dict[str, Any] = json.loads(json.dumps(obj).replace(f'"{HOME}"', f'"{namespace}"'))
    if moved["kind"].startswith("Cluster"):
        moved["metadata"]["name"] += f"-{namespace}"
    if moved.get("roleRef", {}).get("kind") == "ClusterRole":
        moved["roleRef"]["name"] += f"-{namespace}"
    return moved


@pytest.fixture(scope="module")
def installed(sync_crds: KubeApiserver) -> Installed:
    server = sync_crds
    namespace, other = f"sync-{secrets.token_hex(4)}", f"apps-{secrets.token_hex(4)}"
    for name in (namespace, other):
        server.kubectl("create", "namespace", name)
    objects = [_moved(o, namespace) for o in render(SYNC) if o["kind"] in RBAC_KINDS]
    server.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objects))
    return Installed(server, namespace, other)


def _each(verbs: str, *resource: str) -> list[tuple[str, ...]]:
    return [(verb, *resource) for verb in verbs.split()]


NEEDED: list[list[tuple[str, ...]]] = [
    # Its inputs, anywhere, and their status.
    *(_each("get list watch", kind, "-A") for kind in (ES, SS)),
    _each("get list watch", CSS),
    *(_each("update patch", kind, "--subresource=status", "-n", "{other}") for kind in (ES, SS)),
    _each("update patch", CSS, "--subresource=status"),
    # The Secrets it writes and the ones stores name, wherever they are.
    _each("get list watch create update patch delete", "secrets", "-n", "{other}"),
    _each("list watch", "secrets", "-A"),
    # Referent ServiceAccount tokens; namespaces for ClusterSecretStore conditions.
    _each("create", "serviceaccounts", "--subresource=token", "-n", "{other}"),
    _each("get list watch", "namespaces"),
    # The consumers index and rollouts.
    *(_each("get list watch patch", f"{k}.apps", "-A") for k in ("deployments", "statefulsets")),
    _each("get list watch patch", "daemonsets.apps", "-n", "{other}"),
    _each("list watch", "pods", "-A"),
    # Events, and its Lease at home.
    _each("create patch", "events.events.k8s.io", "-n", "{other}"),
    _each("create", "leases.coordination.k8s.io", "-n", "{home}"),
    _each("get update", "leases.coordination.k8s.io/sealbox-sync", "-n", "{home}"),
]

NOT_NEEDED: list[list[tuple[str, ...]]] = [
    # Anything at all, or growing its own rights.
    [("*", "*", "-A")],
    _each("escalate bind create", "clusterroles.rbac.authorization.k8s.io"),
    _each("update", "clusterroles.rbac.authorization.k8s.io/sealbox-sync"),
    _each("create", "clusterrolebindings.rbac.authorization.k8s.io"),
    _each("create", "rolebindings.rbac.authorization.k8s.io", "-n", "{home}"),
    _each("impersonate", "users"),
    _each("impersonate", "serviceaccounts", "-n", "{other}"),
    # ServiceAccounts themselves (only their token subresource) and tokens of any other kind.
    _each("get list create update delete", "serviceaccounts", "-n", "{other}"),
    _each("create", "tokenreviews.authentication.k8s.io"),
    # Its inputs come from Git: no writes but status.
    *(_each("create update patch delete", kind, "-n", "{other}") for kind in (ES, SS)),
    _each("create update patch delete", CSS),
    _each("deletecollection", "secrets", "-n", "{other}"),
    _each("update", f"customresourcedefinitions.apiextensions.k8s.io/{ES}"),
    # Workloads: a restart patch, never a replace, a new workload, a scale or a deletion.
    _each("create update delete", "deployments.apps", "-n", "{other}"),
    _each("update patch", "deployments.apps", "--subresource=scale", "-n", "{other}"),
    _each("update", "statefulsets.apps", "-n", "{other}"),
    _each("list", "replicasets.apps", "-n", "{other}"),
    # Pods: read for the index, nothing else.
    _each("get create delete patch", "pods", "-n", "{other}"),
    _each("create", "pods", "--subresource=exec", "-n", "{other}"),
    _each("create", "pods", "--subresource=eviction", "-n", "{other}"),
    # Reading what it does not use; namespaces read-only.
    _each("get list watch", "configmaps", "-n", "{other}"),
    _each("update delete", "namespaces/{other}"),
    _each("list", "events.events.k8s.io", "-n", "{other}"),
    # Leases elsewhere, or deleting its own.
    _each("create", "leases.coordination.k8s.io", "-n", "{other}"),
    _each("delete", "leases.coordination.k8s.io/sealbox-sync", "-n", "{home}"),
]


def _flat(groups: list[list[tuple[str, ...]]]) -> list[tuple[str, ...]]:
    return [request for group in groups for request in group]


def _args(template: tuple[str, ...], installed: Installed) -> list[str]:
    return [a.format(home=installed.namespace, other=installed.other) for a in template]


@pytest.mark.parametrize("request_", _flat(NEEDED), ids=" ".join)
def test_controller_may(request_: tuple[str, ...], installed: Installed) -> None:
    assert installed.can(*_args(request_, installed))


@pytest.mark.parametrize("request_", _flat(NOT_NEEDED), ids=" ".join)
def test_controller_may_not(request_: tuple[str, ...], installed: Installed) -> None:
    assert not installed.can(*_args(request_, installed))


def test_no_wildcards_and_only_the_controller_is_bound() -> None:
    for obj in render(SYNC):
        for rule in obj.get("rules", []):
            for key in ("verbs", "resources", "apiGroups"):
                assert "*" not in rule[key], (obj["metadata"]["name"], rule)
            assert not rule.get("nonResourceURLs"), obj["metadata"]["name"]
            assert not rule.get("resourceNames"), obj["metadata"]["name"]
        if obj["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            subjects = [(s["kind"], s["name"], s.get("namespace")) for s in obj["subjects"]]
            assert subjects == [("ServiceAccount", ACCOUNT, HOME)], obj["metadata"]["name"]


def test_every_rule_says_why() -> None:
    """Each rule in rbac.yaml has a comment right above it (the reviewer's checklist)."""
    lines = (SYNC / "rbac.yaml").read_text().splitlines()
    for number, line in enumerate(lines):
        if line.strip().startswith("- apiGroups:"):
            assert lines[number - 1].strip().startswith("#"), f"rbac.yaml:{number + 1}"
