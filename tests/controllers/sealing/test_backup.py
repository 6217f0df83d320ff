"""``sealbox seal backup`` against a real apiserver, decrypted by the real ``age`` CLI and read
back by ``read_private_keys``; the backup annotation drives ``newest_backed_up``."""

from __future__ import annotations

import asyncio
import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from lightkube.resources.core_v1 import Secret

from sealbox.controllers.sealing.backup import backup_keys, parse_recipients, record_backup
from sealbox.controllers.sealing.key_secrets import BACKED_UP_ANNOTATION
from sealbox.controllers.sealing.keystore import KeyStore
from sealbox.controllers.sealing.wrapping import KeyWrapper
from sealbox.errors import InputError
from sealbox.kms.backends.local import create_keyring
from sealbox.kube import KubeTarget, async_client
from sealbox.sealing import SealingKey, public_key_fingerprint, read_private_keys
from tests.controllers.sealing.keys_support import KEY_LABEL, upstream_key_secret, within
from tests.integration.kube_apiserver import KubeApiserver

AGE = shutil.which("age")
AGE_KEYGEN = shutil.which("age-keygen")
pytestmark = pytest.mark.skipif(
    AGE is None or AGE_KEYGEN is None, reason="the age CLI (Debian package age) is not installed"
)


def _age_identity(directory: Path) -> tuple[Path, str]:
    """An X25519 identity file made by age-keygen, and its ``age1…`` recipient."""
    identity = directory / "age.key"
    assert AGE_KEYGEN is not None
    subprocess.run([AGE_KEYGEN, "-o", str(identity)], check=True, capture_output=True)
    recipient = subprocess.run(
        [AGE_KEYGEN, "-y", str(identity)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return identity, recipient


def _ssh_identity(directory: Path) -> tuple[Path, str]:
    """An OpenSSH ed25519 private key file and its ``ssh-ed25519`` public line."""
    private = ed25519.Ed25519PrivateKey.generate()
    path = directory / "id_ed25519"
    path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    public = private.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return path, public.decode()


def _age_decrypt(identity: Path, encrypted: bytes) -> bytes:
    assert AGE is not None
    return subprocess.run(
        [AGE, "--decrypt", "-i", str(identity)], input=encrypted, check=True, capture_output=True
    ).stdout


def test_backup_holds_every_key_and_the_age_cli_opens_it(
    kube_apiserver: KubeApiserver,
    kube_namespace: str,
    sealing_keys: list[SealingKey],
    tmp_path: Path,
) -> None:
    ns = kube_namespace
    active, legacy, compromised, wrapped_key = sealing_keys
    age_identity, age_recipient = _age_identity(tmp_path)
    ssh_identity, ssh_recipient = _ssh_identity(tmp_path)
    create_keyring(tmp_path / "kek.key")
    wrapper = KeyWrapper.from_entry({"type": "local", "keyFile": "kek.key"}, tmp_path)

    async def scenario() -> Any:
        client = async_client(KubeTarget(kubeconfig=kube_apiserver.kubeconfig))
        try:
            await client.create(
                upstream_key_secret("sealed-secrets-keyaaaaa", active, namespace=ns)
            )
            await client.create(
                upstream_key_secret("sealed-secrets-key", legacy, namespace=ns, label=None)
            )
            await client.create(
                upstream_key_secret(
                    "sealed-secrets-keyold", compromised, namespace=ns, label="compromised"
                )
            )
            await client.create(upstream_key_secret("unrelated", active, namespace=ns, label=None))
            store = KeyStore(client, namespace=ns, wrapper=wrapper)
            await store.create_key_secret(wrapped_key)  # a KMS-wrapped key, unwrapped in the backup

            with pytest.raises(InputError, match="wrapped by local"):
                await backup_keys(client, ns, [age_recipient])
            return await backup_keys(client, ns, [age_recipient, ssh_recipient], wrapper=wrapper)
        finally:
            await client.close()
            wrapper.close()

    backup = asyncio.run(scenario())
    assert backup.encrypted.startswith(b"-----BEGIN AGE ENCRYPTED FILE-----")
    assert backup.count == 4
    assert {k.fingerprint for k in backup.keys} == {k.fingerprint for k in sealing_keys}
    assert {k.label for k in backup.keys} == {"active", "compromised", None}

    for identity in (age_identity, ssh_identity):
        plain = _age_decrypt(identity, backup.encrypted)
        document = yaml.safe_load(plain)
        assert (document["apiVersion"], document["kind"]) == ("v1", "List")
        for item in document["items"]:
            assert item["type"] == "kubernetes.io/tls"
            assert set(item["metadata"]) <= {"name", "namespace", "labels", "annotations"}
            assert "annotations" not in item["metadata"]  # the wrapping note is dropped
            assert set(item["data"]) == {"tls.crt", "tls.key"}
        names = sorted(item["metadata"]["name"] for item in document["items"])
        assert names[0] == "sealed-secrets-key"
        assert "unrelated" not in names
        recovered = read_private_keys(plain, "backup.yaml")
        assert {public_key_fingerprint(k.public_key()) for k in recovered} == {
            k.fingerprint for k in sealing_keys
        }
        pem = base64.b64decode(document["items"][0]["data"]["tls.key"])
        assert pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")


def test_recording_a_backup_flags_the_newest_key_until_the_next_renewal(
    kube_apiserver: KubeApiserver,
    kube_namespace: str,
    sealing_keys: list[SealingKey],
    tmp_path: Path,
) -> None:
    ns = kube_namespace
    _, recipient = _age_identity(tmp_path)

    async def scenario() -> None:
        client = async_client(KubeTarget(kubeconfig=kube_apiserver.kubeconfig))
        try:
            await client.create(
                upstream_key_secret("sealed-secrets-keyaaaaa", sealing_keys[0], namespace=ns)
            )
            store = KeyStore(client, namespace=ns, key_size=2048)
            await store.start(may_generate=False)
            watching = asyncio.create_task(store.watch())
            try:
                assert not store.newest_backed_up()
                backup = await backup_keys(client, ns, [recipient])
                await record_backup(client, backup)
                await within(store.wait_until(lambda s: s.newest_backed_up()))
                secret = await client.get(Secret, "sealed-secrets-keyaaaaa", namespace=ns)
                assert secret.metadata is not None
                assert secret.metadata.annotations is not None
                assert BACKED_UP_ANNOTATION in secret.metadata.annotations
                assert secret.metadata.labels == {KEY_LABEL: "active"}

                await store.renew()  # a renewal: the new key is in no backup yet
                assert not store.newest_backed_up()
                again = await backup_keys(client, ns, [recipient])
                assert again.count == 2
                await record_backup(client, again)
                await within(store.wait_until(lambda s: s.newest_backed_up()))
            finally:
                watching.cancel()
                await asyncio.gather(watching, return_exceptions=True)
        finally:
            await client.close()

    asyncio.run(scenario())


def test_recipients_must_be_age_or_ssh_public_keys(tmp_path: Path) -> None:
    _, recipient = _age_identity(tmp_path)
    _, ssh_recipient = _ssh_identity(tmp_path)
    assert len(parse_recipients([recipient, ssh_recipient])) == 2
    with pytest.raises(InputError, match="at least one"):
        parse_recipients([])
    with pytest.raises(InputError, match="#2"):
        parse_recipients([recipient, "not-a-key"])
    with pytest.raises(InputError, match="#1"):
        parse_recipients([recipient[:-1] + ("q" if recipient[-1] != "q" else "p")])
