"""deploy/rbac/controller-runtime-role.yaml grants what the runtime needs and no more.

That it is enough is shown by the two-replica tests, whose replicas run as this
ServiceAccount; this test shows what it leaves out.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.kube_apiserver import KubeApiserver
from tests.kube.runtime.replicas import runtime_identity

pytestmark = pytest.mark.integration

ALLOWED = [
    ("get", "leases.coordination.k8s.io"),
    ("create", "leases.coordination.k8s.io"),
    ("update", "leases.coordination.k8s.io"),
    ("create", "events.events.k8s.io"),
]
DENIED = [
    ("list", "leases.coordination.k8s.io"),
    ("watch", "leases.coordination.k8s.io"),
    ("delete", "leases.coordination.k8s.io"),
    ("get", "events.events.k8s.io"),
    ("delete", "events.events.k8s.io"),
    ("get", "secrets"),
    ("list", "secrets"),
    ("create", "configmaps"),  # the test controller's own Role only patches them
]


def test_the_service_account_may_do_what_the_runtime_needs_and_nothing_else(
    kube_apiserver: KubeApiserver, kube_namespace: str, tmp_path: Path
) -> None:
    runtime_identity(kube_apiserver, kube_namespace, tmp_path)
    account = f"system:serviceaccount:{kube_namespace}:sealbox-controller"

    def can(verb: str, resource: str, namespace: str = kube_namespace) -> str:
        result = kube_apiserver.kubectl(
            "auth", "can-i", verb, resource, "-n", namespace, f"--as={account}", check=False
        )
        return result.stdout.strip()

    assert [can(verb, resource) for verb, resource in ALLOWED] == ["yes"] * len(ALLOWED)
    assert [can(verb, resource) for verb, resource in DENIED] == ["no"] * len(DENIED)
    # Leases only at home; Events wherever the objects they are about live.
    assert can("update", "leases.coordination.k8s.io", "default") == "no"
    assert can("create", "events.events.k8s.io", "default") == "yes"
