"""KMS v2 specifics: seed reuse, key_id rotation, staleness, legacy DEKs and apiserver limits."""

from __future__ import annotations

import hashlib
import os
import struct

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from sealbox._proto import encrypted_object_pb2
from sealbox.encryption.chain import ProviderChain
from sealbox.encryption.encrypted_object import (
    DEKSourceType,
    EncryptedObject,
    InvalidEncryptedObject,
    cache_key,
    parse_encrypted_object,
)
from sealbox.encryption.envelope import KMSv2Provider
from sealbox.encryption.model import KMSConfiguration
from sealbox.errors import BackendUnavailable, DecryptError, EncryptError, KMSPluginError
from sealbox.kms import key_id_hash
from tests.doubles.kms_services import FakeKMSv2

KEY = "/registry/secrets/default/db"
PREFIX = b"k8s:enc:kms:v2:kms:"
PLAINTEXT = b"k8s\x00 serialized secret"


def _provider(service: FakeKMSv2, **kwargs: object) -> KMSv2Provider:
    config = KMSConfiguration(name="kms", endpoint="unix:///unused.sock", api_version="v2")
    return KMSv2Provider(config, lambda: service, **kwargs)  # type: ignore[arg-type]


def _record(value: bytes) -> EncryptedObject:
    assert value.startswith(PREFIX)
    return parse_encrypted_object(value[len(PREFIX) :])


def test_independent_reader_opens_what_we_write() -> None:
    """Decode our output with raw protobuf + cryptography only, as the apiserver would."""
    service = FakeKMSv2()
    value = ProviderChain([_provider(service)]).write(KEY, PLAINTEXT)
    message = encrypted_object_pb2.EncryptedObject.FromString(value[len(PREFIX) :])
    assert message.encryptedDEKSourceType == 1
    assert message.keyID == "kek-1"
    assert dict(message.annotations) == {"fake.kms.example.io": b"1"}
    seed = service.decrypt(
        message.encryptedDEKSource, uid="u", key_id="kek-1", annotations=message.annotations
    )
    assert len(seed) == 32
    data = message.encryptedData
    info, nonce, sealed = data[:32], data[32:44], data[44:]
    key = HKDFExpand(algorithm=hashes.SHA256(), length=32, info=info).derive(seed)
    assert AESGCM(key).decrypt(nonce, sealed, KEY.encode()) == PLAINTEXT
    assert len(data) == len(PLAINTEXT) + 60


def test_one_seed_serves_every_write_while_key_id_is_stable() -> None:
    service = FakeKMSv2()
    chain = ProviderChain([_provider(service)])
    values = [chain.write(f"/registry/secrets/ns/s{i}", PLAINTEXT) for i in range(50)]
    assert service.calls["Encrypt"] == 1
    assert len({_record(v).encrypted_dek_source for v in values}) == 1
    # Our own writes are readable without a plugin Decrypt (the write seed is cached).
    for i, value in enumerate(values):
        assert chain.read(f"/registry/secrets/ns/s{i}", value).data == PLAINTEXT
    assert service.calls.get("Decrypt", 0) == 0


def test_key_id_change_reseeds_and_marks_old_values_stale() -> None:
    now = [0.0]
    service = FakeKMSv2()
    provider = _provider(service, now=lambda: now[0])
    chain = ProviderChain([provider])
    old = chain.write(KEY, PLAINTEXT)
    assert chain.read(KEY, old).stale is False
    service.keks["kek-2"] = os.urandom(32)
    service.key_id = "kek-2"
    now[0] += 61.0  # past the Status refresh interval
    new = chain.write(KEY, PLAINTEXT)
    assert service.calls["Encrypt"] == 2
    assert _record(new).key_id == "kek-2"
    old_read = chain.read(KEY, old)
    assert (old_read.data, old_read.stale, old_read.key_id) == (PLAINTEXT, True, "kek-1")
    assert chain.read(KEY, new).stale is False


def test_a_fresh_reader_unwraps_each_dek_source_once() -> None:
    service = FakeKMSv2()
    writer = ProviderChain([_provider(service)])
    values = [writer.write(f"/registry/secrets/ns/s{i}", PLAINTEXT) for i in range(20)]
    reader_service = FakeKMSv2(keks=service.keks)  # the same KEKs; counts the reader's calls
    chain = ProviderChain([_provider(reader_service)])
    for i, value in enumerate(values):
        chain.read(f"/registry/secrets/ns/s{i}", value)
    assert "Decrypt" not in service.calls
    assert reader_service.calls["Decrypt"] == 1


def test_legacy_aes_gcm_key_records_read_as_stale() -> None:
    service = FakeKMSv2()
    dek = os.urandom(32)
    wrapped = service.encrypt(dek, uid="u").ciphertext
    nonce = os.urandom(4) + struct.pack("<Q", 1_000_000_001)
    record = EncryptedObject(
        encrypted_data=nonce + AESGCM(dek).encrypt(nonce, PLAINTEXT, KEY.encode()),
        key_id="kek-1",
        encrypted_dek_source=wrapped,
        annotations={},
        dek_source_type=DEKSourceType.AES_GCM_KEY,
    )
    result = ProviderChain([_provider(service)]).read(KEY, PREFIX + record.serialize())
    assert (result.data, result.stale) == (PLAINTEXT, True)


def test_encrypt_key_id_must_match_status() -> None:
    service = FakeKMSv2(encrypt_key_id="someone-else")
    with pytest.raises(KMSPluginError, match="Status reports"):
        ProviderChain([_provider(service)]).write(KEY, PLAINTEXT)


def test_unhealthy_plugin_refuses_writes_but_still_reads() -> None:
    service = FakeKMSv2()
    value = ProviderChain([_provider(service)]).write(KEY, PLAINTEXT)
    service.healthz = "key disabled"
    with pytest.raises(EncryptError, match="not healthy"):
        ProviderChain([_provider(service)]).write(KEY, PLAINTEXT)
    assert ProviderChain([_provider(service)]).read(KEY, value).data == PLAINTEXT


def test_wrong_status_version_is_a_plugin_error() -> None:
    with pytest.raises(KMSPluginError, match="version"):
        ProviderChain([_provider(FakeKMSv2(version="v1"))]).write(KEY, PLAINTEXT)


def test_v2beta1_status_is_accepted() -> None:
    chain = ProviderChain([_provider(FakeKMSv2(version="v2beta1"))])
    assert chain.read(KEY, chain.write(KEY, PLAINTEXT)).data == PLAINTEXT


@pytest.mark.parametrize(
    "annotations",
    [{"NotFQDN": b"x"}, {"single": b"x"}, {"big.example.io": b"x" * 32768}],
    ids=["uppercase", "one-label", "too-large"],
)
def test_plugin_annotations_must_satisfy_the_apiserver(annotations: dict[str, bytes]) -> None:
    with pytest.raises(KMSPluginError, match="annotation"):
        ProviderChain([_provider(FakeKMSv2(annotations=annotations))]).write(KEY, PLAINTEXT)


def test_plugin_outage_surfaces_as_backend_unavailable() -> None:
    service = FakeKMSv2()
    value = ProviderChain([_provider(service)]).write(KEY, PLAINTEXT)
    service.down = True
    with pytest.raises(BackendUnavailable):
        ProviderChain([_provider(service)]).read(KEY, value)


def test_unknown_key_id_is_a_clean_decrypt_error() -> None:
    value = ProviderChain([_provider(FakeKMSv2())]).write(KEY, PLAINTEXT)
    other = FakeKMSv2(keks={"kek-9": os.urandom(32)}, key_id="kek-9")
    with pytest.raises(DecryptError, match="unknown key_id"):
        ProviderChain([_provider(other)]).read(KEY, value)
    with pytest.raises(DecryptError, match="does not unwrap"):
        ProviderChain([_provider(FakeKMSv2(keks={"kek-1": os.urandom(32)}))]).read(KEY, value)


def _raw_record(**fields: object) -> bytes:
    base: dict[str, object] = {
        "encryptedData": b"\x01" * 80,
        "keyID": "k",
        "encryptedDEKSource": b"\x02" * 40,
        "encryptedDEKSourceType": 1,
    }
    base.update(fields)
    return encrypted_object_pb2.EncryptedObject(**base).SerializeToString()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"keyID": ""}, "keyID is empty"),
        ({"keyID": "k" * 1025}, "keyID is 1025 bytes"),
        ({"encryptedDEKSource": b""}, "encryptedDEKSource is empty"),
        ({"encryptedDEKSource": b"x" * 1025}, "encryptedDEKSource is 1025 bytes"),
        ({"encryptedData": b""}, "encryptedData is empty"),
        ({"encryptedDEKSourceType": 7}, "unknown encryptedDEKSourceType 7"),
        ({"annotations": {"bad_key": b"1"}}, "fully qualified"),
        ({"annotations": {"a.example.io": b"x" * 32760}}, "annotations are"),
    ],
)
def test_stored_records_are_validated_like_the_apiserver(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidEncryptedObject, match=message):
        parse_encrypted_object(_raw_record(**fields))
    with pytest.raises(DecryptError, match=message):
        ProviderChain([_provider(FakeKMSv2())]).read(KEY, PREFIX + _raw_record(**fields))


def test_limits_at_the_boundary_are_accepted() -> None:
    record = parse_encrypted_object(
        _raw_record(
            keyID="k" * 1024,
            encryptedDEKSource=b"x" * 1024,
            annotations={"a.example.io.": b"x" * (32768 - len("a.example.io."))},
        )
    )
    assert len(record.key_id) == 1024


def test_cache_key_matches_the_apiserver_layout() -> None:
    record = EncryptedObject(
        encrypted_data=b"d",
        key_id="kid",
        encrypted_dek_source=b"src",
        annotations={"b.example.io": b"2", "a.example.io": b"1"},
    )
    expected = (
        b"\x00\x00\x00\x01"
        + b"\x00\x03src"
        + b"\x00\x03kid"
        + b"\x00\x00\x00\x02"
        + b"\x00\x0ca.example.io\x00\x011"
        + b"\x00\x0cb.example.io\x00\x012"
    )
    assert cache_key(record) == hashlib.sha256(expected).digest()


def test_key_id_hash_matches_the_apiserver_metric_label() -> None:
    expected = "sha256:6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"
    assert key_id_hash("1") == expected


def test_reprs_hold_no_seed_or_ciphertext() -> None:
    service = FakeKMSv2()
    provider = _provider(service)
    value = ProviderChain([provider]).write(KEY, PLAINTEXT)
    record = _record(value)
    state = provider._write_state()
    assert state.seed.hex() not in repr(state)
    assert record.encrypted_dek_source.hex() not in repr(record)
    assert "serialized secret" not in repr(ProviderChain([provider]).read(KEY, value))
