"""The legacy v1 ``spec.data`` blob: a whole Secret as JSON, sealed with the same format."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sealbox.errors import NoMatchingKey, ObjectDecodeError
from sealbox.sealing import Scope, label_for, parse_v1_secret, unseal
from tests.sealing import reference

SECRET = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "mysecret", "namespace": "myns"},
    "data": {"foo": "c2VrcmV0"},
}


@pytest.mark.parametrize("scope", list(Scope), ids=lambda scope: scope.value)
def test_a_legacy_blob_opens_to_the_secret(
    rsa_keys: dict[int, rsa.RSAPrivateKey], scope: Scope
) -> None:
    key = rsa_keys[4096]
    label = label_for(scope, "myns", "mysecret")
    blob = reference.seal(key.public_key(), json.dumps(SECRET).encode(), label)
    assert blob[:2] == b"\x02\x00"
    assert parse_v1_secret(unseal([key], blob, label)) == SECRET


def test_a_legacy_blob_under_another_label_does_not_open(
    rsa_keys: dict[int, rsa.RSAPrivateKey],
) -> None:
    key = rsa_keys[2048]
    blob = reference.seal(key.public_key(), json.dumps(SECRET).encode(), b"myns/mysecret")
    with pytest.raises(NoMatchingKey):
        parse_v1_secret(unseal([key], blob, b"myns/other"))


@pytest.mark.parametrize("plaintext", [b"plaintext-marker", b"[1, 2]", b"\xff\xfe", b"null"])
def test_a_blob_that_is_not_a_json_object_is_a_decode_error(
    rsa_keys: dict[int, rsa.RSAPrivateKey], plaintext: bytes
) -> None:
    key = rsa_keys[2048]
    blob = reference.seal(key.public_key(), plaintext, b"")
    with pytest.raises(ObjectDecodeError, match=r"^spec\.data: ") as caught:
        parse_v1_secret(unseal([key], blob, b""))
    assert "plaintext-marker" not in str(caught.value)
