"""``sealbox seal backup`` against the REAL apiserver: the key Secrets, age-encrypted, readable
by --recovery-unseal once decrypted, and each Secret marked backed up only after the write."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pyrage
import pytest
import yaml
from typer.testing import CliRunner

from sealbox.cli import app
from sealbox.sealing import generate_key
from tests.integration.kube_apiserver import KubeApiserver

runner = CliRunner()


def _key_secret(namespace: str, name: str) -> dict[str, object]:
    key = generate_key(bits=2048)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"sealedsecrets.bitnami.com/sealed-secrets-key": "active"},
        },
        "data": {
            "tls.key": base64.b64encode(key.private_key_pem()).decode(),
            "tls.crt": base64.b64encode(key.certificate_pem()).decode(),
        },
    }


@pytest.fixture
def key_namespace(kube_apiserver: KubeApiserver, kube_namespace: str) -> str:
    items = [_key_secret(kube_namespace, f"sealed-secrets-key{s}") for s in ("abcde", "fghij")]
    kube_apiserver.kubectl(
        "apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )
    return kube_namespace


def test_backup_is_encrypted_complete_and_recorded(
    tmp_path: Path, kube_apiserver: KubeApiserver, key_namespace: str
) -> None:
    identity = pyrage.x25519.Identity.generate()
    out = tmp_path / "keys.age"
    args = ["seal", "backup", "-r", str(identity.to_public()), "--key-namespace", key_namespace]
    args += ["--kubeconfig", str(kube_apiserver.kubeconfig), "--output-file", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert out.stat().st_mode & 0o777 == 0o600
    assert out.read_bytes().startswith(b"-----BEGIN AGE ENCRYPTED FILE-----")
    assert b"PRIVATE KEY" not in out.read_bytes()
    backup = yaml.safe_load(pyrage.decrypt(out.read_bytes(), [identity]))
    names = [item["metadata"]["name"] for item in backup["items"]]
    assert names == ["sealed-secrets-keyabcde", "sealed-secrets-keyfghij"]
    assert result.stderr.count("backed up ") == 2
    secret = json.loads(
        kube_apiserver.kubectl(
            "get", "secret", "sealed-secrets-keyabcde", "-n", key_namespace, "-o", "json"
        ).stdout
    )
    assert "sealbox.io/backed-up-at" in secret["metadata"]["annotations"]


def test_a_bad_recipient_is_refused_before_the_cluster_is_asked(tmp_path: Path) -> None:
    args = ["seal", "backup", "-r", "not-a-key", "--kubeconfig", str(tmp_path / "absent")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --recipient #1 (not-a-key")
