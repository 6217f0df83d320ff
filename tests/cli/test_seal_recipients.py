"""``sealbox seal --recipients``: each value one envelope that every recipient's key opens, with
their key ids, under the SealedSecret's scope; the document otherwise as kubeseal writes it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from typer.testing import CliRunner

from sealbox.cli import app
from sealbox.sealing import (
    Scope,
    decode_value,
    envelope_key_ids,
    is_envelope,
    label_for,
    open_envelope,
    public_key_fingerprint,
)
from tests.cli.test_seal_cli import MANIFEST, sealing_cert

runner = CliRunner()
EXPECTED = {"password": b"pl41n-s3cr3t-value", "username": b"admin"}


@pytest.fixture(scope="module")
def keys() -> list[rsa.RSAPrivateKey]:
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)]


@pytest.fixture
def certs(tmp_path: Path, keys: list[rsa.RSAPrivateKey]) -> list[str]:
    paths = []
    for index, key in enumerate(keys):
        path = tmp_path / f"cluster-{index}.pem"
        path.write_bytes(sealing_cert(key))
        paths.append(str(path))
    return paths


def _only(key: rsa.RSAPrivateKey) -> Callable[[str], rsa.RSAPrivateKey | None]:
    """A key_for that holds ``key`` alone."""
    fingerprint = public_key_fingerprint(key.public_key())
    return lambda key_id: key if key_id == fingerprint else None


@pytest.mark.parametrize("scope", list(Scope), ids=lambda s: s.value)
def test_every_recipient_opens_every_value(
    certs: list[str], keys: list[rsa.RSAPrivateKey], scope: Scope
) -> None:
    args = ["seal", "--cert", certs[0], "--recipients", certs[1], "--recipients", certs[2]]
    result = runner.invoke(app, [*args, "--scope", scope.value], input=MANIFEST)
    assert result.exit_code == 0, result.stderr
    sealed = json.loads(result.stdout)
    label = label_for(scope, "prod", "db")
    ids = tuple(public_key_fingerprint(key.public_key()) for key in keys)
    for item, text in sealed["spec"]["encryptedData"].items():
        value = decode_value(text, item)
        assert is_envelope(value)
        assert envelope_key_ids(value) == ids  # --cert first, then --recipients in order
        for key in keys:
            assert open_envelope(value, label, _only(key)) == EXPECTED[item]
    assert sealed["spec"]["template"]["type"] == "kubernetes.io/basic-auth"


def test_raw_value_to_recipients(certs: list[str], keys: list[rsa.RSAPrivateKey]) -> None:
    args = ["seal", "--raw", "--recipients", certs[1], "--recipients", certs[2]]
    result = runner.invoke(app, [*args, "--namespace", "prod", "--name", "db"], input="v4lue")
    assert result.exit_code == 0, result.stderr
    value = decode_value(result.stdout)
    assert envelope_key_ids(value) == tuple(
        public_key_fingerprint(key.public_key()) for key in keys[1:]
    )
    assert open_envelope(value, b"prod/db", _only(keys[2])) == b"v4lue"


def test_the_same_certificate_twice_is_refused(certs: list[str]) -> None:
    args = ["seal", "--cert", certs[0], "--recipients", certs[0]]
    result = runner.invoke(app, args, input=MANIFEST)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --recipients: the same certificate is given twice; name each once\n"
    )
