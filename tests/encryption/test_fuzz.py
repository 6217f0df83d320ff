"""Untrusted stored bytes only ever produce clean errors (hypothesis)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealbox.encryption.chain import ProviderChain
from sealbox.encryption.encrypted_object import InvalidEncryptedObject, parse_encrypted_object
from sealbox.encryption.envelope import KMSv1Provider, KMSv2Provider
from sealbox.encryption.model import KMSConfiguration
from sealbox.encryption.static import StaticKey, aescbc, aesgcm, secretbox
from sealbox.errors import DecryptError
from tests.doubles.kms_services import FakeKMSv1, FakeKMSv2

KEY = "/registry/secrets/default/fuzz"
_V2 = FakeKMSv2()
_V1 = FakeKMSv1()
# Every provider but identity, so nothing is accepted as plaintext; several keys each so the
# key-level walk runs too.
CHAIN = ProviderChain(
    [
        aesgcm([StaticKey("k1", os.urandom(32)), StaticKey("k2", os.urandom(16))]),
        aescbc([StaticKey("k1", os.urandom(32)), StaticKey("k2", os.urandom(24))]),
        secretbox([StaticKey("k1", os.urandom(32))]),
        KMSv2Provider(
            KMSConfiguration(name="p2", endpoint="unix:///x", api_version="v2"), lambda: _V2
        ),
        KMSv1Provider(KMSConfiguration(name="p1", endpoint="unix:///x", cachesize=10), lambda: _V1),
    ]
)
PREFIXES = [
    b"",
    b"k8s:enc:",
    b"k8s:enc:aesgcm:v1:k1:",
    b"k8s:enc:aesgcm:v1:k2:",
    b"k8s:enc:aescbc:v1:k1:",
    b"k8s:enc:aescbc:v1:k2:",
    b"k8s:enc:secretbox:v1:k1:",
    b"k8s:enc:kms:v2:p2:",
    b"k8s:enc:kms:v1:p1:",
]


def _read_cleanly(value: bytes) -> None:
    try:
        result = CHAIN.read(KEY, value)
    except DecryptError as exc:
        message = str(exc)
    else:
        # Only CBC can "succeed" on random bytes (no MAC); then the walk must say so.
        assert result.provider == "aescbc"
        return
    assert message.startswith(KEY + ":")


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=512))
def test_random_payloads_after_every_prefix(prefix: bytes, body: bytes) -> None:
    _read_cleanly(prefix + body)


@settings(max_examples=300)
@given(st.binary(max_size=256))
def test_random_values(value: bytes) -> None:
    _read_cleanly(value)


@settings(max_examples=300)
@given(st.binary(max_size=2048))
def test_encrypted_object_parser(payload: bytes) -> None:
    try:
        record = parse_encrypted_object(payload)
    except InvalidEncryptedObject:
        return
    assert record.key_id
    assert record.encrypted_dek_source


@settings(max_examples=200)
@given(
    data=st.binary(min_size=1, max_size=64),
    key_id=st.text(min_size=1, max_size=40),
    source=st.binary(min_size=1, max_size=64),
    type_=st.integers(min_value=0, max_value=3),
)
def test_structured_kms_v2_records(data: bytes, key_id: str, source: bytes, type_: int) -> None:
    """Well-formed protobuf with junk inside reaches the plugin and still fails cleanly."""
    from sealbox._proto import encrypted_object_pb2

    message = encrypted_object_pb2.EncryptedObject(
        encryptedData=data,
        keyID=key_id,
        encryptedDEKSource=source,
        encryptedDEKSourceType=type_,  # type: ignore[arg-type]
    )
    _read_cleanly(b"k8s:enc:kms:v2:p2:" + message.SerializeToString())
