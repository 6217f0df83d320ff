"""``sealbox seal`` end to end: what it writes opens with the cluster's private key, in every
output form (JSON, YAML, a file, ``--raw``), and never shows a value."""

from __future__ import annotations

import base64
import datetime
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from sealbox.cli import app
from sealbox.sealing import Scope, decode_value, label_for
from sealbox.sealing.hybrid import unseal  # the package's `unseal` name is also a module's

runner = CliRunner()
PLAIN = "pl41n-s3cr3t-value"
MANIFEST = f"""\
apiVersion: v1
kind: Secret
metadata:
  name: db
  namespace: prod
  labels: {{app: db}}
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{{"stringData": "{PLAIN}"}}'
type: kubernetes.io/basic-auth
data:
  password: {base64.b64encode(PLAIN.encode()).decode()}
stringData:
  username: admin
"""


def sealing_cert(key: rsa.RSAPrivateKey) -> bytes:
    """A self-signed certificate for ``key``, as the controller's /v1/cert.pem serves one."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sealed-secret")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def cert(tmp_path: Path, key: rsa.RSAPrivateKey) -> Path:
    path = tmp_path / "cluster.pem"
    path.write_bytes(sealing_cert(key))
    return path


def _opened(key: rsa.RSAPrivateKey, sealed: dict[str, Any], scope: Scope) -> dict[str, bytes]:
    label = label_for(scope, sealed["metadata"].get("namespace", ""), sealed["metadata"]["name"])
    return {
        item: unseal([key], decode_value(text, item), label)
        for item, text in sealed["spec"]["encryptedData"].items()
    }


EXPECTED = {"password": PLAIN.encode(), "username": b"admin"}


def test_seal_json_round_trip(tmp_path: Path, cert: Path, key: rsa.RSAPrivateKey) -> None:
    (tmp_path / "secret.yaml").write_text(MANIFEST)
    result = runner.invoke(app, ["seal", str(tmp_path / "secret.yaml"), "--cert", str(cert)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("{\n  ")  # kubeseal's default: pretty JSON
    sealed = json.loads(result.stdout)
    assert _opened(key, sealed, Scope.STRICT) == EXPECTED
    template = sealed["spec"]["template"]
    assert template["type"] == "kubernetes.io/basic-auth"
    assert template["metadata"]["labels"] == {"app": "db"}
    assert "annotations" not in template["metadata"]  # last-applied holds the plaintext
    assert PLAIN not in result.stdout + result.stderr


@pytest.mark.parametrize("scope", list(Scope), ids=lambda s: s.value)
def test_seal_yaml_from_stdin_each_scope(cert: Path, key: rsa.RSAPrivateKey, scope: Scope) -> None:
    args = ["seal", "--cert", str(cert), "-o", "yaml", "--scope", scope.value]
    result = runner.invoke(app, args, input=MANIFEST)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("---\napiVersion: bitnami.com/v1alpha1\n")
    (sealed,) = list(yaml.safe_load_all(result.stdout))
    assert _opened(key, sealed, scope) == EXPECTED


def test_multi_document_input_gives_one_sealed_secret_each(
    cert: Path, key: rsa.RSAPrivateKey
) -> None:
    second = MANIFEST.replace("name: db", "name: cache")
    result = runner.invoke(
        app, ["seal", "-", "--cert", str(cert), "-o", "json"], input=f"{MANIFEST}---\n{second}"
    )
    assert result.exit_code == 0, result.stderr
    decoder, text, documents = json.JSONDecoder(), result.stdout, []
    while text.strip():
        document, end = decoder.raw_decode(text.lstrip())
        documents.append(document)
        text = text.lstrip()[end:]
    assert [d["metadata"]["name"] for d in documents] == ["db", "cache"]
    assert all(_opened(key, d, Scope.STRICT) == EXPECTED for d in documents)


def test_output_file_is_yaml_private_and_forced_only(
    tmp_path: Path, cert: Path, key: rsa.RSAPrivateKey
) -> None:
    out = tmp_path / "sealed.yaml"
    args = ["seal", "--cert", str(cert), "--output-file", str(out)]
    result = runner.invoke(app, args, input=MANIFEST)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert out.stat().st_mode & 0o777 == 0o600
    (sealed,) = list(yaml.safe_load_all(out.read_text()))  # .yaml name: yaml, like kubeseal -w
    assert _opened(key, sealed, Scope.STRICT) == EXPECTED
    before = out.read_bytes()
    again = runner.invoke(app, args, input=MANIFEST)
    assert again.exit_code == 2
    assert out.read_bytes() == before
    forced = runner.invoke(app, [*args, "--force"], input=MANIFEST)
    assert forced.exit_code == 0, forced.stderr
    assert out.read_bytes() != before


def test_namespace_flag_fills_a_manifest_without_one(cert: Path, key: rsa.RSAPrivateKey) -> None:
    manifest = MANIFEST.replace("  namespace: prod\n", "")
    args = ["seal", "--cert", str(cert), "--namespace", "dev"]
    result = runner.invoke(app, args, input=manifest)
    assert result.exit_code == 0, result.stderr
    sealed = json.loads(result.stdout)
    assert sealed["metadata"]["namespace"] == "dev"
    assert _opened(key, sealed, Scope.STRICT) == EXPECTED
    missing = runner.invoke(app, ["seal", "--cert", str(cert)], input=manifest)
    assert missing.exit_code == 2
    assert missing.stderr.startswith("error: stdin: metadata.namespace: missing")


@pytest.mark.parametrize("scope", list(Scope), ids=lambda s: s.value)
def test_raw_prints_one_value_without_a_newline(
    tmp_path: Path, cert: Path, key: rsa.RSAPrivateKey, scope: Scope
) -> None:
    (tmp_path / "value.txt").write_text(PLAIN)
    args = ["seal", "--raw", "--from-file", f"password={tmp_path / 'value.txt'}"]
    args += ["--cert", str(cert), "--scope", scope.value, "--namespace", "prod", "--name", "db"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert not result.stdout.endswith("\n")
    label = label_for(scope, "prod", "db")
    assert unseal([key], decode_value(result.stdout), label) == PLAIN.encode()


def test_raw_reads_stdin_and_needs_a_name_for_strict(cert: Path, key: rsa.RSAPrivateKey) -> None:
    args = ["seal", "--raw", "--cert", str(cert), "--namespace", "prod"]
    result = runner.invoke(app, [*args, "--name", "db"], input=PLAIN)
    assert result.exit_code == 0, result.stderr
    assert unseal([key], decode_value(result.stdout), b"prod/db") == PLAIN.encode()
    refused = runner.invoke(app, args, input=PLAIN)
    assert refused.exit_code == 2
    assert refused.stderr == (
        "error: --raw with --scope strict needs --name (or seal with --scope namespace-wide or "
        "cluster-wide)\n"
    )


def test_cert_from_the_kubeseal_environment_variable(cert: Path, key: rsa.RSAPrivateKey) -> None:
    result = runner.invoke(app, ["seal"], input=MANIFEST, env={"SEALED_SECRETS_CERT": str(cert)})
    assert result.exit_code == 0, result.stderr
    assert _opened(key, json.loads(result.stdout), Scope.STRICT) == EXPECTED
