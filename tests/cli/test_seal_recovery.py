"""``sealbox seal --recovery-unseal``: a SealedSecret opened offline with backed-up keys, values
shown only with --show-values, files written 0600; both value formats."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from sealbox.cli import app
from tests.cli.test_seal_cli import MANIFEST, PLAIN, sealing_cert

runner = CliRunner()


@pytest.fixture(scope="module")
def keys() -> list[rsa.RSAPrivateKey]:
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2)]


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@pytest.fixture
def files(tmp_path: Path, keys: list[rsa.RSAPrivateKey]) -> Path:
    """cert-N.pem, key-N.pem, and sealed.yaml sealed to key 1 (upstream format)."""
    for index, key in enumerate(keys):
        (tmp_path / f"cert-{index}.pem").write_bytes(sealing_cert(key))
        (tmp_path / f"key-{index}.pem").write_bytes(_pem(key))
    args = ["seal", "--cert", str(tmp_path / "cert-1.pem"), "-o", "yaml"]
    result = runner.invoke(
        app, [*args, "--output-file", str(tmp_path / "sealed.yaml")], input=MANIFEST
    )
    assert result.exit_code == 0, result.stderr
    return tmp_path


def test_values_are_redacted_unless_asked(files: Path) -> None:
    keys = f"{files / 'key-0.pem'},{files / 'key-1.pem'}"  # kubeseal's comma list
    args = ["seal", "--recovery-unseal", str(files / "sealed.yaml"), "--recovery-private-key", keys]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    secret = json.loads(result.stdout)
    assert secret["kind"] == "Secret"
    assert secret["metadata"]["name"] == "db"
    assert secret["data"] == {"password": "REDACTED", "username": "REDACTED"}
    assert PLAIN not in result.stdout + result.stderr
    assert base64.b64encode(PLAIN.encode()).decode() not in result.stdout
    shown = runner.invoke(app, [*args, "--show-values", "-o", "yaml"])
    assert shown.exit_code == 0, shown.stderr
    data = yaml.safe_load(shown.stdout)["data"]
    assert base64.b64decode(data["password"]) == PLAIN.encode()
    assert base64.b64decode(data["username"]) == b"admin"


def test_a_backup_list_of_secrets_and_an_output_file(
    files: Path, keys: list[rsa.RSAPrivateKey]
) -> None:
    backup = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "kubernetes.io/tls",
                "metadata": {"name": f"sealed-secrets-key{i}", "namespace": "kube-system"},
                "data": {
                    "tls.key": base64.b64encode(_pem(key)).decode(),
                    "tls.crt": base64.b64encode(sealing_cert(key)).decode(),
                },
            }
            for i, key in enumerate(keys)
        ],
    }
    (files / "backup.yaml").write_text(yaml.safe_dump(backup))
    out = files / "secret.json"
    args = ["seal", "--recovery-unseal", "--recovery-private-key", str(files / "backup.yaml")]
    args += ["--show-values", "--output-file", str(out)]
    result = runner.invoke(app, args, input=(files / "sealed.yaml").read_text())
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert out.stat().st_mode & 0o777 == 0o600
    assert base64.b64decode(json.loads(out.read_text())["data"]["password"]) == PLAIN.encode()


def test_an_envelope_opens_with_the_recovery_key(files: Path) -> None:
    args = ["seal", "--cert", str(files / "cert-0.pem"), "--recipients", str(files / "cert-1.pem")]
    sealed = runner.invoke(app, args, input=MANIFEST)
    assert sealed.exit_code == 0, sealed.stderr
    recover = ["seal", "--recovery-unseal", "--recovery-private-key", str(files / "key-1.pem")]
    result = runner.invoke(app, [*recover, "--show-values"], input=sealed.stdout)
    assert result.exit_code == 0, result.stderr
    assert base64.b64decode(json.loads(result.stdout)["data"]["password"]) == PLAIN.encode()


def test_the_wrong_key_names_the_items_never_a_value(files: Path) -> None:
    args = ["seal", "--recovery-unseal", str(files / "sealed.yaml")]
    result = runner.invoke(app, [*args, "--recovery-private-key", str(files / "key-0.pem")])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {files / 'sealed.yaml'}: ")
    assert "password" in result.stderr
    assert "(with the 1 key(s) of --recovery-private-key)" in result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""
