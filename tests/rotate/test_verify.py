"""Verification of a re-encryption against a real kube-apiserver and etcd.

Before ``reencrypt_via_api`` every stored value is under aescbc ``key1`` (see
:mod:`tests.rotate.aes_plane`): the etcd check fails and says how many of each resource remain.
After it, the etcd check passes and every object reads through the promoted apiserver and through
one that reads Secrets with the new aesgcm key alone; a value that does not decrypt fails the API
check.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from sealbox.encryption import StorageTransformers, load_config
from sealbox.errors import InputError
from sealbox.kms.client import GrpcConnector
from sealbox.kube import KubeTarget, async_client
from sealbox.rotate.reencrypt import reencrypt_via_api
from sealbox.rotate.verify import ApiVerifyResult, verify_api, verify_etcd
from sealbox.storage.etcd import EtcdClient
from tests.integration.etcd_server import EtcdServer
from tests.integration.kube_apiserver import KubeApiserver, running_apiserver
from tests.rotate.aes_plane import CONFIGMAPS, RESOURCES, SECRETS, Plane, promoted_plane

pytestmark = pytest.mark.integration
OLD = {("aescbc", "key1")}


@pytest.fixture(scope="module")
def plane(etcd_server: EtcdServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plane]:
    with promoted_plane(etcd_server, tmp_path_factory.mktemp("verify")) as running:
        yield running


@contextlib.contextmanager
def new_key_reader(plane: Plane) -> Iterator[KubeApiserver]:
    """An apiserver on the same etcd prefix that reads Secrets with the new key alone
    (ConfigMaps with both), every read from etcd. It becomes ready only once every Secret is
    under the new key (its own Secret informer must list them)."""
    document: dict[str, Any] = yaml.safe_load(plane.config.read_text())
    new, old = document["resources"][0]["providers"]
    document["resources"] = [
        {"resources": ["secrets"], "providers": [new]},
        {"resources": ["configmaps"], "providers": [new, old]},
    ]
    directory = plane.config.parent / "reader"
    directory.mkdir()
    path = directory / "new-only.yaml"
    path.write_text(yaml.safe_dump(document))
    with running_apiserver(
        directory / "apiserver",
        plane.etcd,
        # Without a watch cache: one that cannot decrypt Secrets would never let /readyz pass.
        flags=[f"--encryption-provider-config={path}", "--watch-cache=false"],
        etcd_prefix=plane.prefix,
    ) as server:
        yield server


def _through_api(servers: Sequence[KubeApiserver]) -> ApiVerifyResult:
    async def run() -> ApiVerifyResult:
        clients = [async_client(KubeTarget(kubeconfig=s.kubeconfig)) for s in servers]
        try:
            return await verify_api(clients, RESOURCES, concurrency=8, qps=200.0)
        finally:
            for client in clients:
                await client.close()

    return asyncio.run(run())


def _reencrypt(plane: Plane) -> None:
    async def run() -> None:
        client = async_client(KubeTarget(kubeconfig=plane.apiserver.kubeconfig))
        try:
            result = await reencrypt_via_api(client, RESOURCES, concurrency=8, qps=200.0)
        finally:
            await client.close()
        assert result.ok, result.failed

    asyncio.run(run())


def test_verify_fails_while_values_remain_and_passes_after_reencryption(plane: Plane) -> None:
    config = load_config(plane.config)
    with EtcdClient(plane.etcd.config()) as store:
        before = verify_etcd(store, config, RESOURCES, OLD, etcd_prefix=plane.prefix)
        assert not before.passed
        assert before.remaining["secrets"] == SECRETS
        assert before.remaining["configmaps"] >= CONFIGMAPS
        assert before.by_key[("aescbc", "key1")] == sum(before.remaining.values())
        assert len(before.named) == 20
        line = before.summary()
        assert line.startswith("FAILED")
        assert "still under aescbc key key1" in line
        assert f"secrets {SECRETS}" in line

        api_before = _through_api([plane.apiserver])
        assert api_before.passed, api_before.summary()  # the promoted apiserver reads both keys
        assert api_before.servers[0].read["secrets"] == SECRETS

        _reencrypt(plane)

        after = verify_etcd(store, config, RESOURCES, OLD, etcd_prefix=plane.prefix)
        assert after.passed, after.summary()
        assert after.by_key[("aesgcm", "key2")] == after.total
        assert after.total >= SECRETS + CONFIGMAPS
        assert after.outside == 0
        assert after.summary().startswith("PASSED")

        with GrpcConnector() as connector:
            transformers = StorageTransformers(config, connector, etcd_prefix=plane.prefix)
            decrypted = verify_etcd(
                store, config, RESOURCES, OLD, etcd_prefix=plane.prefix, transformers=transformers
            )
        assert decrypted.passed, decrypted.summary()
        assert decrypted.total == after.total

    with new_key_reader(plane) as reader:
        api_after = _through_api([plane.apiserver, reader])
        assert api_after.passed, api_after.summary()
        assert all(s.read["secrets"] == SECRETS for s in api_after.servers)
        assert "PASSED" in api_after.summary()

        corrupt = f"{plane.prefix}/secrets/default/corrupt"
        plane.etcd.etcdctl("put", corrupt, "k8s:enc:aescbc:v1:key9:not-a-value")
        try:
            broken = _through_api([reader])
        finally:
            plane.etcd.etcdctl("del", corrupt)
        assert not broken.passed
        assert broken.servers[0].failed
        assert all(f.startswith("secrets ") for f in broken.servers[0].failed)
        assert "FAILED" in broken.summary()


def test_an_empty_scan_fails_unless_allowed(plane: Plane) -> None:
    config = load_config(plane.config)
    with EtcdClient(plane.etcd.config()) as store:
        empty = verify_etcd(store, config, RESOURCES, OLD, etcd_prefix="/registry-nothing-here")
        allowed = verify_etcd(
            store, config, RESOURCES, OLD, etcd_prefix="/registry-nothing-here", allow_empty=True
        )
    assert not empty.passed
    assert "--etcd-prefix" in empty.summary()
    assert allowed.passed


def test_values_another_entry_governs_do_not_count(plane: Plane, tmp_path: Path) -> None:
    """``*.*`` rotates while Secrets have an entry of their own still on the old key: the scan
    walks every range, but only what the rotated entry governs can fail it."""
    key = {"aescbc": {"keys": [{"name": "key1", "secret": base64.b64encode(b"k" * 32).decode()}]}}
    document = {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [
            {"resources": ["secrets"], "providers": [key]},
            {"resources": ["*.*"], "providers": [{"identity": {}}]},
        ],
    }
    path = tmp_path / "split.yaml"
    path.write_text(yaml.safe_dump(document))
    with EtcdClient(plane.etcd.config()) as store:
        result = verify_etcd(store, load_config(path), ["*.*"], OLD, etcd_prefix=plane.prefix)
        with pytest.raises(InputError, match="no entry lists"):
            verify_etcd(store, load_config(path), ["configmaps"], OLD, etcd_prefix=plane.prefix)
    assert result.outside >= SECRETS
    assert result.remaining["secrets"] == 0
