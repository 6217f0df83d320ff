"""The inventory: which key sealed each value. Vectors come from the independent sealers of the
test tree (reference.py, reference_envelope.py), never from the code under test."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from sealbox.errors import NoMatchingKey
from sealbox.sealing import KeySet, inventory, public_key_fingerprint, summary
from sealbox.sealing.inventory import INVALID, UNKNOWN
from tests.sealing import reference, reference_envelope


@pytest.fixture(scope="module")
def keys() -> list[rsa.RSAPrivateKey]:
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(3)]


def _fp(key: rsa.RSAPrivateKey) -> str:
    return public_key_fingerprint(key.public_key())


def _sealed_secret(
    items: dict[str, bytes],
    *,
    namespace: str = "prod",
    name: str = "db",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": metadata,
        "spec": {"encryptedData": {k: base64.b64encode(v).decode() for k, v in items.items()}},
    }


def test_keyset_opens_both_formats_and_names_the_key(keys: list[rsa.RSAPrivateKey]) -> None:
    ring = KeySet(keys[:2])
    upstream = reference.seal(keys[1].public_key(), b"one", b"prod/db")
    envelope = reference_envelope.seal(
        [keys[2].public_key(), keys[0].public_key()], b"two", b"prod/db"
    )
    assert ring.open(upstream, b"prod/db") == b"one"
    assert ring.opened_by(upstream, b"prod/db") == _fp(keys[1])
    assert ring.open(envelope, b"prod/db") == b"two"
    assert ring.opened_by(envelope, b"prod/db") == _fp(keys[0])
    with pytest.raises(NoMatchingKey):
        ring.open(upstream, b"prod/other")  # another scope label
    assert repr(ring) == "KeySet(2 keys)"


def test_each_value_is_attributed(keys: list[rsa.RSAPrivateKey]) -> None:
    label = b"prod/db"
    wide = b"prod"
    documents = [
        (
            "a.yaml",
            _sealed_secret(
                {
                    "old": reference.seal(keys[0].public_key(), b"x", label),
                    "new": reference.seal(keys[1].public_key(), b"y", label),
                    "lost": reference.seal(keys[2].public_key(), b"z", label),
                    "both": reference_envelope.seal(
                        [keys[1].public_key(), keys[2].public_key()], b"w", label
                    ),
                    "cut": b"\x01",
                }
            ),
        ),
        (
            "b.yaml",
            _sealed_secret(
                {"ns": reference.seal(keys[1].public_key(), b"v", wide)},
                annotations={"sealedsecrets.bitnami.com/namespace-wide": "true"},
            ),
        ),
        ("b.yaml", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
    ]
    names = {_fp(keys[0]): "old.pem", _fp(keys[1]): "new.pem"}
    records = inventory(documents, KeySet(keys[:2]), names)
    by_item = {r.item: r for r in records}
    assert sorted(by_item) == ["both", "cut", "lost", "new", "ns", "old"]
    assert by_item["old"].keys == ("old.pem",)
    assert by_item["old"].format == "upstream"
    assert by_item["new"].keys == ("new.pem",)
    assert by_item["new"].fingerprints == (_fp(keys[1]),)
    assert by_item["lost"].keys == (UNKNOWN,)
    assert by_item["both"].format == "envelope"
    assert by_item["both"].keys == ("new.pem", _fp(keys[2]))  # no key needed: ids are inside
    assert by_item["cut"].keys == (INVALID,)
    assert by_item["ns"].keys == ("new.pem",)  # opened under the namespace-wide label
    assert by_item["ns"].source == "b.yaml"
    assert summary(records, ["old.pem", "new.pem", "spare.pem"]) == {
        "new.pem": 3,
        "invalid": 1,
        "old.pem": 1,
        UNKNOWN: 1,
        _fp(keys[2]): 1,
        "spare.pem": 0,
    }


def test_malformed_sealed_secrets_are_not_fatal(keys: list[rsa.RSAPrivateKey]) -> None:
    broken = {"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "spec": "nonsense"}
    odd = _sealed_secret({})
    odd["spec"]["encryptedData"] = {"n": 5}
    records = inventory([("x", broken), ("y", odd), ("z", ["a", "list"])], KeySet())
    assert [(r.source, r.item, r.keys) for r in records] == [("y", "n", (INVALID,))]
