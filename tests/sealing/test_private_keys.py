"""Recovery keys in every form kubeseal --recovery-private-key reads."""

from __future__ import annotations

import base64
import json

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sealbox.errors import InvalidSealingKey
from sealbox.sealing import public_key_fingerprint, read_private_keys


def _pem(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, form: serialization.PrivateFormat
) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption())


def _secret(name: str, key: rsa.RSAPrivateKey) -> dict[str, object]:
    pem = _pem(key, serialization.PrivateFormat.TraditionalOpenSSL)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": name, "namespace": "kube-system"},
        "data": {"tls.key": base64.b64encode(pem).decode(), "tls.crt": ""},
    }


def _ids(keys: list[rsa.RSAPrivateKey]) -> list[str]:
    return [public_key_fingerprint(key.public_key()) for key in keys]


@pytest.fixture(scope="module")
def keys() -> list[rsa.RSAPrivateKey]:
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2)]


def test_pem_pkcs1_pkcs8_and_several_blocks(keys: list[rsa.RSAPrivateKey]) -> None:
    pkcs1 = _pem(keys[0], serialization.PrivateFormat.TraditionalOpenSSL)
    pkcs8 = _pem(keys[1], serialization.PrivateFormat.PKCS8)
    assert _ids(read_private_keys(pkcs1, "k.pem")) == _ids(keys[:1])
    assert _ids(read_private_keys(pkcs1 + b"\n" + pkcs8, "k.pem")) == _ids(keys)


def test_secret_json_yaml_list_and_backup(keys: list[rsa.RSAPrivateKey]) -> None:
    one = _secret("sealed-secrets-keyabcde", keys[0])
    assert _ids(read_private_keys(json.dumps(one).encode(), "k.json")) == _ids(keys[:1])
    assert _ids(read_private_keys(yaml.safe_dump(one).encode(), "k.yaml")) == _ids(keys[:1])
    backup = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [one, _secret("sealed-secrets-keyfghij", keys[1])],
    }
    assert _ids(read_private_keys(yaml.safe_dump(backup).encode(), "b.yaml")) == _ids(keys)
    docs = yaml.safe_dump_all([one, _secret("k2", keys[1])]).encode()
    assert _ids(read_private_keys(docs, "d.yaml")) == _ids(keys)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"hello", "k: no private key found"),
        (b"\xff\xfe", "k: neither a PEM private key nor a Secret in YAML or JSON"),
        (b"kind: Secret\nmetadata: {name: s}\ndata: {}\n", "k: Secret s has no tls.key"),
        (
            b"kind: Secret\nmetadata: {name: s}\ndata: {tls.key: '!!'}\n",
            "k: Secret s: data.tls.key is not base64",
        ),
        (
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "k: a PEM block is not an unencrypted private key",
        ),
    ],
)
def test_unusable_files_name_the_file(data: bytes, message: str) -> None:
    with pytest.raises(InvalidSealingKey) as caught:
        read_private_keys(data, "k")
    assert str(caught.value).startswith(message)


def test_non_rsa_keys_are_refused() -> None:
    pem = _pem(ec.generate_private_key(ec.SECP256R1()), serialization.PrivateFormat.PKCS8)
    with pytest.raises(InvalidSealingKey, match="not RSA"):
        read_private_keys(pem, "k")
