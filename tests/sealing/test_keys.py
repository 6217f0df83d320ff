"""Sealing key pairs: generated as upstream generates them, loaded from tls.key/tls.crt."""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sealbox.errors import InvalidSealingKey
from sealbox.sealing import (
    SealingKey,
    generate_key,
    key_from_pem,
    load_certificate,
    public_key_fingerprint,
)
from tests.sealing.reference_envelope import key_id

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def key() -> SealingKey:
    return generate_key(bits=2048, now=NOW)


def test_certificate_is_what_upstream_generates(key: SealingKey, tmp_path: Path) -> None:
    cert = key.certificate
    assert cert.subject == x509.Name([]) == cert.issuer  # empty DN, self-signed
    assert cert.not_valid_before_utc == NOW
    assert cert.not_valid_after_utc == NOW + datetime.timedelta(hours=87600)
    assert 0 < cert.serial_number < 2**128
    assert cert.signature_hash_algorithm is not None
    assert cert.signature_hash_algorithm.name == "sha256"
    cert.verify_directly_issued_by(cert)
    # openssl, an independent parser, reads the extensions pyca's parser refuses.
    pem = tmp_path / "cert.pem"
    pem.write_bytes(key.certificate_pem())
    text = subprocess.run(
        ["openssl", "x509", "-in", str(pem), "-noout", "-text"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    usage = text.split("X509v3 Key Usage: critical", 1)[1].split("\n")[1].strip()
    assert usage == "Encipher Only"
    assert "X509v3 Basic Constraints: critical\n                CA:TRUE" in text


def test_common_name_becomes_the_subject() -> None:
    named = generate_key(bits=2048, common_name="sealbox-test")
    assert named.certificate.subject.rfc4514_string() == "CN=sealbox-test"


def test_the_generated_certificate_seals(key: SealingKey) -> None:
    certificate = load_certificate(key.certificate_pem())
    assert certificate.public_key.public_numbers() == key.public_key.public_numbers()


def test_tls_key_is_pkcs1_and_round_trips(key: SealingKey) -> None:
    pem = key.private_key_pem()
    assert pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
    again = key_from_pem(pem, key.certificate_pem(), source="Secret kube-system/k")
    assert again.fingerprint == key.fingerprint
    assert again.not_before == NOW


def test_pkcs8_keys_load_too(key: SealingKey) -> None:
    pkcs8 = key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    assert key_from_pem(pkcs8, key.certificate_pem(), source="s").fingerprint == key.fingerprint


def test_fingerprint_is_sha256_of_the_spki(key: SealingKey) -> None:
    assert key.fingerprint == key_id(key.public_key.public_numbers()).hex()
    assert public_key_fingerprint(key.public_key) == key.fingerprint


def test_repr_shows_no_key_material(key: SealingKey) -> None:
    text = repr(key)
    assert key.fingerprint[:16] in text
    assert str(key.private_key.private_numbers().d)[:12] not in text
    assert "PRIVATE" not in text


@pytest.mark.parametrize(
    ("private", "certificate", "message"),
    [
        (b"not pem", None, "s: tls.key is not an unencrypted PEM private key"),
        (None, b"not pem", "s: tls.crt holds no PEM certificate"),
        ("ec", None, "s: tls.key is not an RSA key; Sealed Secrets needs RSA"),
        ("other", None, "s: tls.crt does not publish the key in tls.key"),
    ],
)
def test_unusable_pairs_are_refused_naming_the_source(
    key: SealingKey, private: bytes | str | None, certificate: bytes | None, message: str
) -> None:
    private_pem = key.private_key_pem()
    if private == "ec":
        private_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    elif private == "other":
        private_pem = generate_key(bits=2048).private_key_pem()
    elif isinstance(private, bytes):
        private_pem = private
    with pytest.raises(InvalidSealingKey) as caught:
        key_from_pem(private_pem, certificate or key.certificate_pem(), source="s")
    assert str(caught.value) == message
