"""Issue 13's stores and providers through the running controller, against real servers.

One controller (in a thread, :class:`SyncControllerThread`) watches this module's namespaces on
the session apiserver and syncs from:

* a ClusterSecretStore whose ``conditions`` admit one namespace by name and others by label: a
  refused namespace is a ``Ready False`` naming the store and the namespace, until its labels
  admit it;
* OpenBao with Kubernetes auth (a TokenRequest JWT that OpenBao reviews with the apiserver's
  TokenReview API): one login serves every ExternalSecret of the store over many refreshes, and
  its token is revoked when the controller stops (that test runs a controller of its own);
* AWS Secrets Manager on a moto server (``endpointURL``): a new secret version reaches the Secret;
* the Kubernetes provider: a Secret of another namespace of the same apiserver.
"""

from __future__ import annotations

import base64
import json
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from tests.controllers.sync.sync_support import (
    SyncControllerThread,
    apply,
    condition,
    external_secret,
    kv_put,
    new_namespace,
    secret_values,
    token_secret,
    vault_store,
    wait_ready,
    wait_value,
)
from tests.integration.kube_apiserver import KubeApiserver
from tests.integration.openbao_audit import AuditedOpenBao
from tests.integration.processes import ManagedProcess, free_port, port_open, wait_until

pytestmark = pytest.mark.integration

REGION = "us-east-1"


@dataclass
class Moto:
    """A plain moto server (no IAM: any credential is accepted) and an admin client."""

    url: str
    admin: Any


@dataclass
class Cluster:
    apiserver: KubeApiserver
    bao: AuditedOpenBao
    moto: Moto
    namespaces: dict[str, str]  # role -> namespace
    controller: SyncControllerThread


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    directory = tmp_path_factory.mktemp("moto-sync")
    port = free_port()
    process = ManagedProcess(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        log_path=directory / "moto.log",
        env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    )
    process.start()
    try:
        wait_until(lambda: port_open(port), timeout=60, what="moto server")
        url = f"http://127.0.0.1:{port}"
        admin = boto3.client(
            "secretsmanager",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        yield Moto(url, admin)
        admin.close()
    finally:
        process.stop()


@pytest.fixture(scope="module")
def cluster(
    sync_crds: KubeApiserver, openbao_kubernetes_auth: AuditedOpenBao, moto: Moto
) -> Iterator[Cluster]:
    """The module's namespaces and one controller watching them (``remote`` is only read)."""
    roles = ("allowed", "refused", "aws", "kube", "remote")
    namespaces = {role: new_namespace(sync_crds, role[:4]) for role in roles}
    watched = [namespaces[role] for role in roles if role != "remote"]
    with SyncControllerThread.for_namespaces(sync_crds, *watched) as controller:
        yield Cluster(sync_crds, openbao_kubernetes_auth, moto, namespaces, controller)


def test_cluster_store_conditions_admit_by_name_and_label_and_refuse_the_rest(
    cluster: Cluster,
) -> None:
    api, bao, ns = cluster.apiserver, cluster.bao, cluster.namespaces
    store = f"shared-{secrets.token_hex(3)}"
    label = secrets.token_hex(4)
    key = f"cluster/{secrets.token_hex(4)}"
    kv_put(bao, key, username="u", password="shared")
    auth = {"tokenSecretRef": {"name": "bao-token", "key": "token", "namespace": ns["allowed"]}}
    conditions = [
        {"namespaces": [ns["allowed"]]},
        {"namespaceSelector": {"matchLabels": {"sealbox-test": label}}},
    ]
    apply(
        api,
        token_secret(ns["allowed"], bao.root_token),
        vault_store(bao, None, store, auth=auth, extra={"conditions": conditions}),
        *(
            external_secret(
                ns[role], "from-cluster", key, store=store, store_kind="ClusterSecretStore"
            )
            for role in ("allowed", "refused")
        ),
    )
    wait_value(api, "from-cluster", ns["allowed"], {"user": b"u", "password": b"shared"})
    assert wait_ready(api, "from-cluster", ns["allowed"])["reason"] == "SecretSynced"

    refused = wait_ready(api, "from-cluster", ns["refused"], status="False")
    assert refused["reason"] == "SecretSyncedError"
    assert store in refused["message"]
    assert ns["refused"] in refused["message"]
    assert "not allowed" in refused["message"]
    time.sleep(1.5)  # the refused namespace keeps getting no Secret
    assert secret_values(api, "from-cluster", ns["refused"]) is None

    # A label on the namespace admits it through the selector: no edit of the ExternalSecret.
    api.kubectl("label", "namespace", ns["refused"], f"sealbox-test={label}")
    wait_value(api, "from-cluster", ns["refused"], {"user": b"u", "password": b"shared"})
    assert wait_ready(api, "from-cluster", ns["refused"])["reason"] == "SecretSynced"


def _kubernetes_role(
    bao: AuditedOpenBao, namespace: str, account: str, prefix: str
) -> tuple[str, str]:
    """A role for ServiceAccount ``namespace/account`` reading ``secret/<prefix>/*``, and its
    policy."""
    role = f"sync-{secrets.token_hex(3)}"
    policy = f"read-{role}"
    bao.admin.write(
        f"sys/policies/acl/{policy}",
        policy=f'path "secret/data/{prefix}/*" {{ capabilities = ["read"] }}\n'
        f'path "secret/metadata/{prefix}/*" {{ capabilities = ["read"] }}\n',
    )
    bao.admin.write(
        f"auth/kubernetes/role/{role}",
        bound_service_account_names=[account],
        bound_service_account_namespaces=[namespace],
        token_policies=[policy],
        token_ttl="1h",
    )
    return role, policy


def test_kubernetes_auth_logs_in_once_for_every_external_secret_and_refresh(
    cluster: Cluster,
) -> None:
    api, bao = cluster.apiserver, cluster.bao
    namespace = new_namespace(api, "kauth")
    prefix = f"kauth-{secrets.token_hex(3)}"
    api.kubectl("create", "serviceaccount", "sync", "-n", namespace)
    role, policy = _kubernetes_role(bao, namespace, "sync", prefix)
    keys = [f"{prefix}/app-{n}" for n in range(3)]
    for n, key in enumerate(keys):
        kv_put(bao, key, username=f"user-{n}", password="first")
    mark = bao.mark()
    auth = {"kubernetes": {"role": role, "serviceAccountRef": {"name": "sync"}}}
    apply(
        api,
        vault_store(bao, namespace, "bao-k8s", auth=auth),
        *(
            external_secret(namespace, f"kauth-{n}", key, store="bao-k8s")
            for n, key in enumerate(keys)
        ),
    )
    # A controller of its own, so its shutdown (which revokes the token) is this test's.
    with SyncControllerThread.for_namespaces(api, namespace):
        for n in range(3):
            expected = {"user": f"user-{n}".encode(), "password": b"first"}
            wait_value(api, f"kauth-{n}", namespace, expected)
        kv_put(bao, keys[0], username="user-0", password="second")
        wait_value(api, "kauth-0", namespace, {"user": b"user-0", "password": b"second"})
        time.sleep(3.0)  # three more refresh cycles of the three ExternalSecrets
        assert bao.admin.accessors_with_policy(policy)  # the store's token, still in use
    paths = [request.path for request in bao.requests(mark)]
    assert paths.count("auth/kubernetes/login") == 1, paths
    # The cycles did run: each key's version was checked again after the first sync.
    assert all(paths.count(f"secret/metadata/{key}") >= 2 for key in keys), paths
    assert bao.admin.accessors_with_policy(policy) == []  # revoked when the controller stopped


def test_aws_secrets_manager_value_changes_reach_the_secret(cluster: Cluster) -> None:
    api, moto, namespace = cluster.apiserver, cluster.moto, cluster.namespaces["aws"]
    name = f"shop/{secrets.token_hex(4)}"
    moto.admin.create_secret(
        Name=name, SecretString=json.dumps({"username": "shop", "password": "first"})
    )
    apply(
        api,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "aws-creds", "namespace": namespace},
            "stringData": {"id": "testing", "secret": "testing"},
        },
        {
            "apiVersion": "external-secrets.io/v1",
            "kind": "SecretStore",
            "metadata": {"name": "aws", "namespace": namespace},
            "spec": {
                "provider": {
                    "aws": {
                        "service": "SecretsManager",
                        "region": REGION,
                        "endpointURL": moto.url,
                        "auth": {
                            "secretRef": {
                                "accessKeyIDSecretRef": {"name": "aws-creds", "key": "id"},
                                "secretAccessKeySecretRef": {
                                    "name": "aws-creds",
                                    "key": "secret",
                                },
                            }
                        },
                    }
                }
            },
        },
        external_secret(namespace, "from-aws", name, store="aws"),
    )
    wait_value(api, "from-aws", namespace, {"user": b"shop", "password": b"first"})
    assert wait_ready(api, "from-aws", namespace)["reason"] == "SecretSynced"
    moto.admin.put_secret_value(
        SecretId=name, SecretString=json.dumps({"username": "shop", "password": "second"})
    )
    wait_value(api, "from-aws", namespace, {"user": b"shop", "password": b"second"})
    store = condition(api, "secretstore", "aws", namespace)
    assert store is not None
    assert store["status"] == "True"


def _source_secret(api: KubeApiserver, namespace: str, name: str, **values: str) -> None:
    manifest = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in values.items()},
    }
    # Server-side, so no last-applied annotation holds the values (see docs/sync.md).
    api.kubectl(
        "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=json.dumps(manifest)
    )


def test_kubernetes_provider_copies_a_secret_of_another_namespace(cluster: Cluster) -> None:
    api, ns = cluster.apiserver, cluster.namespaces
    namespace, remote = ns["kube"], ns["remote"]
    _source_secret(api, remote, "db", username="app", password="first")
    store: dict[str, Any] = {
        "apiVersion": "external-secrets.io/v1",
        "kind": "SecretStore",
        "metadata": {"name": "remote", "namespace": namespace},
        "spec": {
            "provider": {
                "kubernetes": {
                    "remoteNamespace": remote,
                    "server": {
                        "url": api.url,
                        "caBundle": base64.b64encode(api.ca_file.read_bytes()).decode(),
                    },
                    "auth": {"token": {"bearerToken": {"name": "remote-token", "key": "token"}}},
                }
            }
        },
    }
    apply(
        api,
        token_secret(namespace, api.admin.token, name="remote-token"),
        store,
        external_secret(namespace, "from-remote", "db", store="remote"),
    )
    wait_value(api, "from-remote", namespace, {"user": b"app", "password": b"first"})
    assert wait_ready(api, "from-remote", namespace)["reason"] == "SecretSynced"
    _source_secret(api, remote, "db", username="app", password="second")
    wait_value(api, "from-remote", namespace, {"user": b"app", "password": b"second"})
