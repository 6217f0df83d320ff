"""The sealing controller's RBAC (deploy/sealing/rbac.yaml), asked of a real kube-apiserver.

The rendered RBAC and Service are created for real in a namespace of this module's own (standing
in for kube-system; cluster-scoped names get that namespace as a suffix so nothing else in the
session's apiserver is touched), then ``kubectl auth can-i --as`` says what the controller's
ServiceAccount may do: everything it needs, and nothing that would let it grow its own rights.
The service-proxy grant is checked with real requests through the proxy path kubeseal uses.
"""

from __future__ import annotations

import json
import secrets
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import DEPLOY, render
from tests.integration.kube_apiserver import KubeApiserver

pytestmark = pytest.mark.integration

SEALING = DEPLOY / "sealing"
HOME = "kube-system"  # where the manifests put the controller
SERVICE = "sealed-secrets-controller"
ACCOUNT = "sealbox-sealing"
RBAC_KINDS = {"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}


@dataclass(frozen=True)
class Installed:
    server: KubeApiserver
    namespace: str  # the controller's namespace (kube-system in the manifests)
    other: str  # a namespace where a SealedSecret might be

    @property
    def account(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{ACCOUNT}"

    def can(self, *args: str, who: str | None = None) -> bool:
        result = self.server.kubectl(
            "auth", "can-i", *args, f"--as={who or self.account}", check=False
        )
        assert result.stdout.strip() in ("yes", "no"), result.stdout + result.stderr
        return result.stdout.strip() == "yes"


def _moved(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """``obj`` with kube-system replaced by ``namespace`` and cluster-wide names made unique."""
    text = json.dumps(obj).replace(f'"{HOME}"', f'"{namespace}"')
    moved: dict[str, Any] = json.loads(text)
    if moved["kind"].startswith("Cluster"):
        moved["metadata"]["name"] += f"-{namespace}"
    if moved.get("roleRef", {}).get("kind") == "ClusterRole":
        moved["roleRef"]["name"] += f"-{namespace}"
    return moved


@pytest.fixture(scope="module")
def installed(sealed_secret_crd: KubeApiserver) -> Installed:
    server = sealed_secret_crd
    namespace, other = f"sealing-{secrets.token_hex(4)}", f"apps-{secrets.token_hex(4)}"
    for name in (namespace, other):
        server.kubectl("create", "namespace", name)
    objects = [
        _moved(o, namespace)
        for o in render(SEALING)
        if o["kind"] in RBAC_KINDS or (o["kind"] == "Service" and o["metadata"]["name"] == SERVICE)
    ]
    server.kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(objects))
    return Installed(server, namespace, other)


NEEDED = [
    # SealedSecrets anywhere, and their status.
    ("get", "sealedsecrets.bitnami.com", "-A"),
    ("list", "sealedsecrets.bitnami.com", "-A"),
    ("watch", "sealedsecrets.bitnami.com", "-A"),
    ("update", "sealedsecrets.bitnami.com", "--subresource=status", "-n", "{other}"),
    ("patch", "sealedsecrets.bitnami.com", "--subresource=status", "-n", "{other}"),
    # The Secrets they unseal into, wherever they are.
    *((verb, "secrets", "-n", "{other}") for verb in ("get", "list", "watch", "create")),
    *((verb, "secrets", "-n", "{other}") for verb in ("update", "patch", "delete")),
    ("list", "secrets", "-A"),
    ("watch", "secrets", "-A"),
    # Events about them, and the namespaces it watches.
    ("create", "events.events.k8s.io", "-n", "{other}"),
    ("patch", "events.events.k8s.io", "-n", "{other}"),
    ("get", "namespaces/{other}"),
    # Its keys and its Lease, at home.
    *((verb, "secrets", "-n", "{home}") for verb in ("get", "list", "watch", "create", "update")),
    ("create", "leases.coordination.k8s.io", "-n", "{home}"),
    ("get", "leases.coordination.k8s.io/sealbox-sealing", "-n", "{home}"),
    ("update", "leases.coordination.k8s.io/sealbox-sealing", "-n", "{home}"),
]

NOT_NEEDED = [
    # Anything at all, or growing its own rights.
    ("*", "*", "-A"),
    ("escalate", "clusterroles.rbac.authorization.k8s.io"),
    ("bind", "clusterroles.rbac.authorization.k8s.io"),
    ("create", "clusterroles.rbac.authorization.k8s.io"),
    ("update", "clusterroles.rbac.authorization.k8s.io/sealbox-sealing"),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io"),
    ("create", "rolebindings.rbac.authorization.k8s.io", "-n", "{home}"),
    ("create", "roles.rbac.authorization.k8s.io", "-n", "{home}"),
    ("impersonate", "users"),
    ("impersonate", "serviceaccounts", "-n", "{home}"),
    ("create", "serviceaccounts", "--subresource=token", "-n", "{other}"),
    ("create", "pods", "-n", "{other}"),
    ("create", "pods", "--subresource=exec", "-n", "{other}"),
    ("update", "deployments.apps", "-n", "{home}"),
    # The SealedSecrets themselves come from Git: no writes but status.
    *((verb, "sealedsecrets.bitnami.com", "-n", "{other}") for verb in ("create", "update")),
    *((verb, "sealedsecrets.bitnami.com", "-n", "{other}") for verb in ("patch", "delete")),
    ("deletecollection", "secrets", "-n", "{other}"),
    ("update", "customresourcedefinitions.apiextensions.k8s.io/sealedsecrets.bitnami.com"),
    # Reading what it does not use.
    ("get", "configmaps", "-n", "{other}"),
    ("list", "pods", "-A"),
    ("list", "namespaces"),
    ("delete", "namespaces/{other}"),
    ("list", "events.events.k8s.io", "-n", "{other}"),
    # Leases elsewhere, or deleting its own.
    ("create", "leases.coordination.k8s.io", "-n", "{other}"),
    ("delete", "leases.coordination.k8s.io/sealbox-sealing", "-n", "{home}"),
]


def _args(template: tuple[str, ...], installed: Installed) -> list[str]:
    return [a.format(home=installed.namespace, other=installed.other) for a in template]


@pytest.mark.parametrize("request_", NEEDED, ids=" ".join)
def test_controller_may(request_: tuple[str, ...], installed: Installed) -> None:
    assert installed.can(*_args(request_, installed))


@pytest.mark.parametrize("request_", NOT_NEEDED, ids=" ".join)
def test_controller_may_not(request_: tuple[str, ...], installed: Installed) -> None:
    assert not installed.can(*_args(request_, installed))


def test_no_wildcards_and_only_the_controller_is_bound() -> None:
    """Every rule names its verbs, resources and groups; the bindings name the controller's
    ServiceAccount, except the service proxier, which is for everyone signed in (as upstream)."""
    for obj in render(SEALING):
        for rule in obj.get("rules", []):
            for key in ("verbs", "resources", "apiGroups"):
                assert "*" not in rule[key], (obj["metadata"]["name"], rule)
            assert not rule.get("nonResourceURLs"), obj["metadata"]["name"]
        if obj["kind"] in ("RoleBinding", "ClusterRoleBinding"):
            subjects = [(s["kind"], s["name"], s.get("namespace")) for s in obj["subjects"]]
            if obj["metadata"]["name"] == "sealbox-sealing-service-proxier":
                assert subjects == [("Group", "system:authenticated", None)]
            else:
                assert subjects == [("ServiceAccount", ACCOUNT, HOME)], obj["metadata"]["name"]


def _proxy(
    installed: Installed, user: str, method: str, service_ref: str, path: str
) -> tuple[int, bytes]:
    """The status of ``method`` on the service proxy path kubeseal builds, as ``user``."""
    server = installed.server
    url = f"{server.url}/api/v1/namespaces/{installed.namespace}/services/{service_ref}/proxy{path}"
    data = b"{}" if method == "POST" else None
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {server.users[user].token}"},
    )
    context = ssl.create_default_context(cafile=str(server.ca_file))
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), bytes(exc.read())


@pytest.mark.parametrize(
    "service_ref", [f"http:{SERVICE}:http", f"http:{SERVICE}:", SERVICE], ids=str
)
@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/cert.pem"), ("POST", "/v1/verify")])
def test_any_user_reaches_the_controller_through_the_proxy(
    service_ref: str, method: str, path: str, installed: Installed
) -> None:
    """alice, a user with no other grant, gets what the admin gets: past authorization, then
    the 404 of a Service with no endpoints (this apiserver runs no Pods), never a 403."""
    status, body = _proxy(installed, "alice", method, service_ref, path)
    assert (status, body) == _proxy(installed, "admin", method, service_ref, path)
    assert status == 404, body


def test_proxy_grant_is_for_that_service_only(installed: Installed) -> None:
    other = "http:kubernetes-dashboard:http"
    assert _proxy(installed, "alice", "GET", other, "/")[0] == 403
    assert _proxy(installed, "admin", "GET", other, "/")[0] == 404
    home = installed.namespace
    assert installed.can("get", f"services/{SERVICE}", "-n", home, who="alice")
    assert not installed.can("list", "services", "-n", home, who="alice")
    assert not installed.can("get", "services/kubernetes-dashboard", "-n", home, who="alice")
    # What kubeseal reads before it builds the proxy path: the Service's first port's name.
    status, body = installed.server.get(
        f"/api/v1/namespaces/{home}/services/{SERVICE}", user="alice"
    )
    assert status == 200
    assert json.loads(body)["spec"]["ports"][0]["name"] == "http"
