"""Every value a real kube-apiserver wrote decodes to its expected object, over real gRPC."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from sealbox.encryption.model import EncryptionConfiguration
from sealbox.encryption.transformers import StorageTransformers
from sealbox.kms.client import GrpcConnector
from sealbox.storage.codec import decode_object
from tests.doubles.static_plugin import StaticKEKPlugin
from tests.kms_fixtures import LEGACY, RECORDED, RecordedSetup
from tests.vectors import load_etcd_values, load_expected

PREFIX, VALUES = load_etcd_values(RECORDED)
EXPECTED = load_expected(RECORDED)

# Which provider and key wrote each value, from the object's name suffix (see the README).
WRITERS = {
    "identity": ("identity", ""),
    "aescbc": ("aescbc", "cbc-pub"),
    "aescbc16": ("aescbc", "cbc16-pub"),
    "aesgcm": ("aesgcm", "gcm-pub"),
    "secretbox": ("secretbox", "sb-pub"),
    "kmsv2": ("kms-v2", "kms2-pub"),
    "kmsv1": ("kms-v1", "kms1-pub"),
}


def _writer(key: str) -> tuple[str, str]:
    return WRITERS[key.rsplit("-", 1)[1]]


def _check_object(obj: dict[str, Any], expected: dict[str, Any]) -> None:
    if "spec" in expected:
        assert obj["spec"] == expected["spec"]
    if obj["kind"] == "ConfigMap":
        assert obj.get("data", {}) == expected.get("data", {})
    elif obj["kind"] == "Secret":
        data = {k: base64.b64decode(v) for k, v in obj.get("data", {}).items()}
        want = {k: v.encode() for k, v in expected.get("data", {}).items()}
        want.update({k: base64.b64decode(v) for k, v in expected.get("data_b64", {}).items()})
        assert data == want
        assert obj["type"] == expected["type"]
    else:
        assert obj["apiVersion"] == "example.com/v1"
    assert obj.get("immutable", False) == expected.get("immutable", False)
    assert obj["metadata"].get("labels", {}) == expected.get("labels", {})


def test_every_recorded_key_has_an_expectation() -> None:
    assert set(VALUES) == set(EXPECTED)
    assert len(VALUES) == 24


@pytest.mark.integration
def test_every_recorded_value_decodes_over_grpc(recorded: RecordedSetup) -> None:
    with GrpcConnector() as connector:
        transformers = StorageTransformers(recorded.config, connector, etcd_prefix=PREFIX)
        for key, value in sorted(VALUES.items()):
            result = transformers.read(key, value)
            provider, key_name = _writer(key)
            assert (result.provider, result.key_name) == (provider, key_name), key
            # identity is listed first in the recorded config, so only its values are fresh.
            assert result.stale is (provider != "identity"), key
            obj = decode_object(result.data)
            namespace, name = key.split("/")[-2:]
            assert obj["metadata"]["name"] == name
            assert obj["metadata"]["namespace"] == namespace
            _check_object(obj, EXPECTED[key])
    assert recorded.v2.calls.get("Decrypt", 0) >= 1
    assert recorded.v1.calls.get("Version", 0) == 1


@pytest.mark.integration
def test_kms_v2_values_share_one_unwrap(recorded: RecordedSetup) -> None:
    """One plugin Decrypt per distinct DEK source, however many values it protects."""
    from sealbox.encryption.encrypted_object import parse_encrypted_object

    kms_keys = [k for k, v in VALUES.items() if v.startswith(b"k8s:enc:kms:v2:")]
    sources = {
        parse_encrypted_object(VALUES[k][len(b"k8s:enc:kms:v2:kms2-pub:") :]).encrypted_dek_source
        for k in kms_keys
    }
    assert len(kms_keys) == 6
    with GrpcConnector() as connector:
        transformers = StorageTransformers(recorded.config, connector, etcd_prefix=PREFIX)
        for _ in range(3):
            for key in kms_keys:
                transformers.read(key, VALUES[key])
    assert recorded.v2.calls["Decrypt"] == len(sources)


@pytest.mark.integration
def test_recorded_values_read_fresh_when_their_writer_is_first(recorded: RecordedSetup) -> None:
    """With the writing provider first, nothing recorded by it is stale."""
    import dataclasses

    entry = recorded.config.resources[0]
    for provider_index, suffix in [(2, "aesgcm"), (3, "secretbox"), (4, "kmsv2")]:
        others = [p for i, p in enumerate(entry.providers) if i != provider_index]
        reordered = (entry.providers[provider_index], *others)
        config = dataclasses.replace(
            recorded.config, resources=(dataclasses.replace(entry, providers=reordered),)
        )
        with GrpcConnector() as connector:
            transformers = StorageTransformers(config, connector, etcd_prefix=PREFIX)
            for key in (k for k in VALUES if k.endswith("-" + suffix)):
                assert transformers.read(key, VALUES[key]).stale is False, key


@pytest.mark.integration
def test_legacy_kms_v2_values_decode(
    legacy: tuple[EncryptionConfiguration, StaticKEKPlugin],
) -> None:
    config, plugin = legacy
    prefix, values = load_etcd_values(LEGACY)
    with GrpcConnector() as connector:
        transformers = StorageTransformers(config, connector, etcd_prefix=prefix)
        for key, value in values.items():
            result = transformers.read(key, value)
            assert result.provider == "kms-v2"
            assert result.key_id == "1"
            assert len(result.data) in (366, 405)
            # The AES_GCM_KEY (type 0) record is stale: the apiserver writes seeds now.
            assert result.stale is key.endswith("dek-source-aes-gcm-key")
            obj = decode_object(result.data)
            assert obj["kind"] == "Secret"
            assert obj["metadata"]["namespace"] == "kms-v2-legacy-data"
            assert (
                base64.b64decode(obj["data"]["api_key"]) == b"086a7ffc-0225-11e8-ba89-0ed5f89f718b"
            )
    assert plugin.calls["Decrypt"] == 2
