"""Keys wrapped by a KMS backend: the Secret stays an upstream-shaped TLS Secret with its
certificate in clear, and neither the Secret nor etcd holds the private key (sealed-secrets #779).

Runs with the local keyring and with a real OpenBao transit key (``vault_harness``)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from lightkube.resources.core_v1 import Secret

from sealbox.controllers.sealing.keystore import KeyStore
from sealbox.controllers.sealing.wrapping import (
    WRAPPED_BY_ANNOTATION,
    WRAPPED_KEY_FIELD,
    KeyWrapper,
)
from sealbox.errors import InvalidSealingKey
from sealbox.kms.backends.local import create_keyring
from sealbox.kube import KubeTarget, async_client
from sealbox.sealing import SealingKey
from tests.controllers.sealing.keys_support import KEY_LABEL, upstream_key_secret
from tests.integration.etcd_server import EtcdServer
from tests.integration.harness import BackendHarness
from tests.integration.kube_apiserver import KubeApiserver


@pytest.fixture
def local_entry(tmp_path: Path) -> dict[str, Any]:
    create_keyring(tmp_path / "kek.key")
    return {"type": "local", "keyFile": "kek.key"}


@pytest.fixture(params=["local", "vault"])
def wrapper(
    request: pytest.FixtureRequest, tmp_path: Path, local_entry: dict[str, Any]
) -> Iterator[KeyWrapper]:
    """A wrapper on the local keyring, or on a real OpenBao transit key."""
    if request.param == "local":
        entry = local_entry
    else:
        harness: BackendHarness = request.getfixturevalue("vault_harness")
        entry = harness.config
    built = KeyWrapper.from_entry(entry, tmp_path)
    yield built
    built.close()


def _private_forms(key: SealingKey) -> list[bytes]:
    """The private key as PEM (and its base64 body lines) and as DER: none may be stored."""
    pem = key.private_key_pem()
    der = key.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    body = [line for line in pem.splitlines() if line and not line.startswith(b"-----")]
    return [pem, der, der[40:80], *body[1:4]]


def test_a_wrapped_key_is_a_tls_secret_without_its_private_key_in_etcd(
    kube_apiserver: KubeApiserver,
    etcd_server: EtcdServer,
    kube_namespace: str,
    wrapper: KeyWrapper,
) -> None:
    ns = kube_namespace

    async def scenario() -> None:
        client = async_client(KubeTarget(kubeconfig=kube_apiserver.kubeconfig))
        try:
            store = KeyStore(client, namespace=ns, key_size=2048, wrapper=wrapper)
            await store.start(may_generate=True)
            (stored,) = store.stored
            key = stored.key
            assert stored.wrapped_by == wrapper.kind

            secret = await client.get(Secret, stored.secret_name, namespace=ns)
            assert secret.metadata is not None
            assert secret.data is not None
            assert secret.type == "kubernetes.io/tls"
            assert secret.metadata.labels == {KEY_LABEL: "active"}
            assert secret.metadata.annotations == {WRAPPED_BY_ANNOTATION: wrapper.kind}
            assert base64.b64decode(secret.data["tls.crt"]) == key.certificate_pem()
            assert base64.b64decode(secret.data["tls.key"]) == b""
            envelope = json.loads(base64.b64decode(secret.data[WRAPPED_KEY_FIELD]))
            assert envelope["keyID"].startswith(f"{wrapper.kind}:")
            api_text = json.dumps(secret.to_dict()).encode()

            raw = etcd_server.etcdctl(
                "get", f"{kube_apiserver.etcd_prefix}/secrets/{ns}/{stored.secret_name}"
            ).stdout
            assert key.certificate_pem() in raw  # this is the Secret, unencrypted at rest
            for form in _private_forms(key):
                assert form not in raw
                assert form not in api_text

            # a restart with the same backend loads it; without the backend it is skipped
            again = KeyStore(client, namespace=ns, wrapper=wrapper)
            await again.start(may_generate=False)
            assert [k.fingerprint for k in again.keyring.keys] == [key.fingerprint]
            unwrapped = KeyStore(client, namespace=ns)
            await unwrapped.start(may_generate=False)
            assert len(unwrapped.keyring) == 0
            assert f"wrapped by {wrapper.kind}" in unwrapped.skipped[stored.secret_name]
        finally:
            await client.close()

    asyncio.run(scenario())


def test_a_wrapping_store_reads_plain_keys_and_writes_new_ones_wrapped(
    kube_apiserver: KubeApiserver,
    kube_namespace: str,
    sealing_keys: list[SealingKey],
    tmp_path: Path,
    local_entry: dict[str, Any],
) -> None:
    ns = kube_namespace
    plain = sealing_keys[0]  # an hour old: the cutoff below makes the store renew
    wrapper = KeyWrapper.from_entry(local_entry, tmp_path)

    async def scenario() -> None:
        client = async_client(KubeTarget(kubeconfig=kube_apiserver.kubeconfig))
        try:
            await client.create(upstream_key_secret("sealed-secrets-keyplain", plain, namespace=ns))
            store = KeyStore(
                client, namespace=ns, key_size=2048, wrapper=wrapper, cutoff=plain.not_after
            )
            await store.start(may_generate=True)
            assert len(store.keyring) == 2
            by_name = {s.secret_name: s for s in store.stored}
            assert by_name["sealed-secrets-keyplain"].wrapped_by is None
            (new,) = [s for s in store.stored if s.secret_name != "sealed-secrets-keyplain"]
            assert new.wrapped_by == "local"
            assert store.newest().fingerprint == new.key.fingerprint
        finally:
            await client.close()
            wrapper.close()

    asyncio.run(scenario())


def test_an_envelope_opens_only_under_its_own_certificate(
    sealing_keys: list[SealingKey], tmp_path: Path, local_entry: dict[str, Any]
) -> None:
    wrapper = KeyWrapper.from_entry(local_entry, tmp_path)
    key, other = sealing_keys[:2]

    async def scenario() -> None:
        fields = await wrapper.wrap(key)
        envelope = fields.data[WRAPPED_KEY_FIELD]
        assert key.private_key_pem() not in b"".join(fields.data.values())
        pem = await wrapper.unwrap(envelope, key.certificate_pem(), source="Secret a/b")
        assert pem == key.private_key_pem()
        with pytest.raises(InvalidSealingKey, match=r"Secret a/b: tls\.key\.wrapped does not open"):
            await wrapper.unwrap(envelope, other.certificate_pem(), source="Secret a/b")
        with pytest.raises(InvalidSealingKey, match="not a version 1 Sealbox wrapped key"):
            await wrapper.unwrap(b"{}", key.certificate_pem(), source="Secret a/b")

    try:
        asyncio.run(scenario())
    finally:
        wrapper.close()
