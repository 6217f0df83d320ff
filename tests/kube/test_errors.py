"""The apiserver's refusals arrive as Sealbox's typed errors, saying what was refused and why."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx2
import pytest
import yaml
from lightkube.resources.core_v1 import Namespace, Secret

from sealbox.errors import (
    KubeConfigError,
    KubeConflict,
    KubeError,
    KubeForbidden,
    KubeNotFound,
    KubeUnavailable,
)
from sealbox.kube import KubeTarget, RetryPolicy, as_kube_error, kube_errors, sync_client
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.processes import free_port
from tests.kube.support import config_via, secret


def test_a_missing_object_is_not_found(kube_apiserver: KubeApiserver, kube_namespace: str) -> None:
    with (
        sync_client(KubeTarget(kube_apiserver.kubeconfig)) as client,
        pytest.raises(KubeNotFound) as caught,
        kube_errors(),
    ):
        client.get(Secret, "nope", namespace=kube_namespace)
    assert (caught.value.status, caught.value.reason) == (404, "NotFound")
    assert str(caught.value).startswith(
        f"GET /api/v1/namespaces/{kube_namespace}/secrets/nope: not found (404 NotFound: "
    )


def test_a_write_on_a_stale_resource_version_is_a_conflict(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    with sync_client(KubeTarget(kube_apiserver.kubeconfig)) as client, kube_errors():
        created = client.create(secret("s", kube_namespace))
        read = client.get(Secret, "s", namespace=kube_namespace)
        read.stringData = {"value": "new"}
        client.replace(read)  # the resourceVersion moves on
        created.stringData = {"value": "stale"}
        with pytest.raises(KubeConflict) as caught, kube_errors():
            client.replace(created)
    assert (caught.value.status, caught.value.reason) == (409, "Conflict")
    assert "read it again and retry" in str(caught.value)


def test_creating_twice_is_a_conflict_that_says_it_exists(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    with sync_client(KubeTarget(kube_apiserver.kubeconfig)) as client, kube_errors():
        client.create(secret("twice", kube_namespace))
        with pytest.raises(KubeConflict, match="it exists already") as caught, kube_errors():
            client.create(secret("twice", kube_namespace))
    assert caught.value.reason == "AlreadyExists"


def test_forbidden_names_user_verb_resource_group_and_namespace(
    kube_apiserver: KubeApiserver, kube_namespace: str
) -> None:
    with (
        sync_client(KubeTarget(kube_apiserver.kubeconfig_for("alice"))) as client,
        pytest.raises(KubeForbidden) as caught,
        kube_errors(),
    ):
        list(client.list(Secret, namespace=kube_namespace))
    message = str(caught.value)
    assert message == (
        f"GET /api/v1/namespaces/{kube_namespace}/secrets: forbidden: user "
        f'"alice" may not list secrets (API group core) in namespace "{kube_namespace}"; a Role '
        "or ClusterRole binding must grant it"
    )
    assert kube_apiserver.users["alice"].token not in message
    assert (caught.value.status, caught.value.reason, caught.value.exit_code) == (
        403,
        "Forbidden",
        2,
    )


def test_forbidden_at_cluster_scope_says_so(kube_apiserver: KubeApiserver) -> None:
    with (
        sync_client(KubeTarget(kube_apiserver.kubeconfig_for("bob"))) as client,
        pytest.raises(KubeForbidden) as caught,
        kube_errors(),
    ):
        list(client.list(Namespace))
    assert 'user "bob" may not list namespaces (API group core) cluster-wide' in str(caught.value)


def test_no_apiserver_is_unavailable_after_bounded_attempts(
    kube_apiserver: KubeApiserver, tmp_path: Path
) -> None:
    config = config_via(kube_apiserver, f"https://127.0.0.1:{free_port()}", tmp_path)
    policy = RetryPolicy(attempts=3, total_seconds=10, base_seconds=0.01)
    with (
        sync_client(config, retry=policy) as client,
        pytest.raises(KubeUnavailable) as caught,
        kube_errors(),
    ):
        client.create(secret("never", "default"))  # never sent: safe to try again
    assert caught.value.exit_code == 3
    assert str(caught.value).startswith("POST /api/v1/namespaces/default/secrets: the apiserver ")
    assert "gave up after 3 attempts" in str(caught.value)
    assert kube_apiserver.admin.token not in str(caught.value)


def test_an_unreadable_ca_is_a_config_error(kube_apiserver: KubeApiserver, tmp_path: Path) -> None:
    document = kube_apiserver.kubeconfig_document("admin")
    missing = tmp_path / f"ca-{secrets.token_hex(2)}.crt"
    document["clusters"][0]["cluster"]["certificate-authority"] = str(missing)
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(KubeConfigError, match=r"cannot load its CA or client certificate"):
        sync_client(KubeTarget(path))


def test_a_refused_token_is_unauthorized_and_not_echoed(
    kube_apiserver: KubeApiserver, tmp_path: Path
) -> None:
    document = kube_apiserver.kubeconfig_document("admin")
    wrong = secrets.token_hex(16)
    document["users"][0]["user"]["token"] = wrong
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(document))
    with (
        sync_client(KubeTarget(path)) as client,
        pytest.raises(KubeError) as caught,
        kube_errors(),
    ):
        client.get(Namespace, "default")
    assert (caught.value.status, caught.value.reason) == (401, "Unauthorized")
    assert "the kubeconfig's credentials were refused" in str(caught.value)
    assert wrong not in str(caught.value)


def test_an_answer_that_is_no_status_keeps_its_code_but_not_the_query() -> None:
    request = httpx2.Request("GET", "https://k/api/v1/secrets?labelSelector=team%3Dx")
    response = httpx2.Response(502, text="<html>\n bad   gateway </html>", request=request)
    error = as_kube_error(httpx2.HTTPStatusError("502", request=request, response=response))
    assert isinstance(error, KubeUnavailable)
    assert str(error) == (
        "GET /api/v1/secrets: the apiserver cannot serve now (502 Bad Gateway: <html> bad "
        "gateway </html>)"
    )
    unread = httpx2.Response(404, stream=httpx2.ByteStream(b"{}"), request=request)
    error = as_kube_error(httpx2.HTTPStatusError("404", request=request, response=unread))
    assert isinstance(error, KubeNotFound)
    assert str(error) == "GET /api/v1/secrets: not found (404 Not Found)"
