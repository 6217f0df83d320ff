"""The test apiserver itself: ready, RBAC on, tokens as documented, namespaces apart."""

from __future__ import annotations

import json

from tests.integration.kube_apiserver import KubeApiserver


def test_the_admin_can_do_anything_and_alice_nothing(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    admin = kube_apiserver.kubectl("auth", "can-i", "get", "secrets", "-n", kube_namespace)
    assert admin.stdout.strip() == "yes"
    alice = kube_apiserver.kubectl(
        "auth", "can-i", "get", "secrets", "-n", kube_namespace, user="alice", check=False
    )
    assert alice.stdout.strip() == "no"


def test_a_namespace_has_its_default_service_account(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    result = kube_apiserver.kubectl(
        "get", "serviceaccount", "default", "-n", kube_namespace, "-o", "json"
    )
    assert json.loads(result.stdout)["metadata"]["namespace"] == kube_namespace


def test_readyz_needs_no_more_than_the_ca_and_a_token(kube_apiserver: KubeApiserver) -> None:
    status, body = kube_apiserver.get("/readyz?verbose")
    assert status == 200
    assert b"readyz check passed" in body
