"""Stored bytes <-> manifests, checked against values a real kube-apiserver wrote."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from hypothesis import strategies as st

from sealbox._proto import encrypted_object_pb2, k8s_objects_pb2
from sealbox.errors import InputError, ObjectDecodeError, SealboxError
from sealbox.storage.codec import (
    decode_object,
    encode_configmap,
    encode_configmap_message,
    encode_secret,
    encode_secret_message,
    unwrap_unknown,
    wrap_unknown,
)
from sealbox.storage.meta import go_json, parse_rfc3339
from tests.vectors import load_etcd_values, load_expected, load_json

SECRET_KEY = "/registry/secrets/default/db-identity"
CONFIGMAP_KEY = "/registry/configmaps/default/cfg-identity"
WIDGET_KEY = "/registry/example.com/widgets/default/w-identity"
LEGACY = "kube-apiserver-kmsv2-legacy"
KMSV2_PREFIX = b"k8s:enc:kms:v2:"

safe_text = st.text(st.characters(codec="utf-8"), max_size=12)


def recorded(key: str) -> bytes:
    return load_etcd_values()[1][key]


def kmsv2_plaintext(key: str, value: bytes, *, legacy: bool) -> bytes:
    """Just enough KMS v2 (spec 2.6) to reach the recorded plaintexts; not the product's reader."""
    _, _, payload = value[len(KMSV2_PREFIX) :].partition(b":")
    stored = encrypted_object_pb2.EncryptedObject()
    stored.ParseFromString(payload)
    if legacy:  # the recording plugin "encrypted" by base64
        seed = base64.b64decode(stored.encryptedDEKSource)
    else:
        kek = bytes.fromhex(load_json("kube-apiserver-1.36", "test-kms.json")["kek_hex"])
        wrapped = stored.encryptedDEKSource
        seed = AESGCM(kek).decrypt(wrapped[:12], wrapped[12:], stored.keyID.encode())
    data = stored.encryptedData
    if stored.encryptedDEKSourceType == 1:
        seed, data = HKDFExpand(hashes.SHA256(), 32, data[:32]).derive(seed), data[32:]
    return AESGCM(seed).decrypt(data[:12], data[12:], key.encode())


def all_recorded_secrets() -> dict[str, bytes]:
    """Every recorded Secret readable without a Sealbox provider: identity and KMS v2 ones."""
    out: dict[str, bytes] = {}
    for dataset in ("kube-apiserver-1.36", LEGACY):
        _, values = load_etcd_values(dataset)
        for key, value in values.items():
            if "/secrets/" not in key:
                continue
            if value.startswith(KMSV2_PREFIX):
                out[key] = kmsv2_plaintext(key, value, legacy=dataset == LEGACY)
            elif not value.startswith(b"k8s:enc:"):
                out[key] = value
    return out


def plain_data(manifest: dict[str, Any]) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in manifest.get("data", {}).items()}


def reencode_secret(manifest: dict[str, Any]) -> bytes:
    meta = manifest["metadata"]
    return encode_secret(
        name=meta["name"],
        namespace=meta["namespace"],
        data=plain_data(manifest),
        type_=manifest["type"],
        labels=meta.get("labels"),
        annotations=meta.get("annotations"),
        uid=meta["uid"],
        creation_timestamp=parse_rfc3339(meta["creationTimestamp"]),
        immutable=manifest.get("immutable"),
        managed_fields=meta.get("managedFields"),
    )


# --- the recorded identity values ---


def test_identity_secret_matches_expected() -> None:
    manifest = decode_object(recorded(SECRET_KEY))
    expected = load_expected()[SECRET_KEY]
    assert manifest["apiVersion"] == "v1"
    assert manifest["kind"] == "Secret"
    assert manifest["type"] == expected["type"]
    assert {k: v.decode("utf-8") for k, v in plain_data(manifest).items()} == expected["data"]
    meta = manifest["metadata"]
    assert (meta["namespace"], meta["name"]) == ("default", "db-identity")
    assert meta["uid"] == "04010be2-402a-46d0-b9de-c73cc7f9c2b5"
    assert meta["creationTimestamp"] == "2026-11-23T06:29:32Z"
    assert "resourceVersion" not in meta
    assert "generateName" not in meta
    assert "immutable" not in manifest
    assert meta["managedFields"][0]["fieldsV1"]["f:data"]["f:unicode"] == {}


def test_identity_configmap_matches_expected() -> None:
    manifest = decode_object(recorded(CONFIGMAP_KEY))
    assert manifest["kind"] == "ConfigMap"
    assert manifest["data"] == load_expected()[CONFIGMAP_KEY]["data"]
    assert list(manifest) == ["apiVersion", "kind", "metadata", "data"]


def test_identity_custom_resource_matches_expected() -> None:
    manifest = decode_object(recorded(WIDGET_KEY))
    assert manifest["apiVersion"] == "example.com/v1"
    assert manifest["kind"] == "Widget"
    assert manifest["spec"] == load_expected()[WIDGET_KEY]["spec"]
    assert manifest["metadata"]["name"] == "w-identity"


def test_secret_key_order_follows_the_api() -> None:
    manifest = decode_object(recorded(SECRET_KEY))
    assert list(manifest) == ["apiVersion", "kind", "metadata", "data", "type"]
    assert list(manifest["metadata"]) == [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "managedFields",
    ]
    immutable = decode_object(encode_secret(name="a", namespace="b", data={}, immutable=False))
    assert list(immutable) == ["apiVersion", "kind", "metadata", "immutable", "type"]
    assert immutable["immutable"] is False


# --- byte-exact writing ---


def test_identity_secret_reencodes_byte_exact() -> None:
    assert reencode_secret(decode_object(recorded(SECRET_KEY))) == recorded(SECRET_KEY)


def test_identity_configmap_reencodes_byte_exact() -> None:
    manifest = decode_object(recorded(CONFIGMAP_KEY))
    meta = manifest["metadata"]
    encoded = encode_configmap(
        name=meta["name"],
        namespace=meta["namespace"],
        data=manifest["data"],
        uid=meta["uid"],
        creation_timestamp=parse_rfc3339(meta["creationTimestamp"]),
        managed_fields=meta["managedFields"],
    )
    assert encoded == recorded(CONFIGMAP_KEY)


@pytest.mark.parametrize("key", [SECRET_KEY, CONFIGMAP_KEY])
def test_parsed_message_reserializes_identically(key: str) -> None:
    data = recorded(key)
    api_version, kind, raw = unwrap_unknown(data)
    assert wrap_unknown(api_version, kind, raw) == data
    if kind == "Secret":
        secret = k8s_objects_pb2.Secret()
        secret.ParseFromString(raw)
        assert encode_secret_message(secret) == data
    else:
        configmap = k8s_objects_pb2.ConfigMap()
        configmap.ParseFromString(raw)
        assert encode_configmap_message(configmap) == data


def test_every_recorded_secret_decodes_and_reencodes_byte_exact() -> None:
    """Labels, annotations, immutable, an empty value, TLS and 600 kB binary data included."""
    secrets = all_recorded_secrets()
    expected = load_expected()
    legacy = {"type": "Opaque", "data": {"api_key": "086a7ffc-0225-11e8-ba89-0ed5f89f718b"}}
    names = sorted(key.rsplit("/", 1)[1] for key in secrets)
    assert names == [
        "big-kmsv2",
        "db-identity",
        "db-kmsv2",
        "dek-source-aes-gcm-key",
        "dek-source-hkdf-sha256-xnonce-aes-gcm-seed",
        "immutable-kmsv2",
        "tls-kmsv2",
    ]
    for key, plaintext in secrets.items():
        manifest = decode_object(plaintext)
        want = expected.get(key, legacy)
        assert manifest["type"] == want["type"], key
        assert manifest.get("immutable", False) == want.get("immutable", False), key
        assert manifest["metadata"].get("labels", {}) == want.get("labels", {}), key
        if "data_b64" in want:
            assert manifest["data"] == want["data_b64"], key
        else:
            assert plain_data(manifest) == {k: v.encode() for k, v in want["data"].items()}, key
        assert reencode_secret(manifest) == plaintext, key


# --- metadata rendering ---


def deployment_bytes() -> bytes:
    meta = k8s_objects_pb2.ObjectMeta(
        name="web",
        generateName="web-",
        namespace="prod",
        uid="u-1",
        resourceVersion="",
        generation=3,
        creationTimestamp=k8s_objects_pb2.Time(),
        deletionTimestamp=k8s_objects_pb2.Time(seconds=1704164645, nanos=999),
        deletionGracePeriodSeconds=30,
        labels={"b": "2", "a": "1"},
        ownerReferences=[
            k8s_objects_pb2.OwnerReference(
                kind="ReplicaSet", name="rs", uid="u-0", apiVersion="apps/v1", controller=True
            )
        ],
        finalizers=["example.com/keep"],
        managedFields=[
            k8s_objects_pb2.ManagedFieldsEntry(
                manager="ctl", operation="Apply", subresource="status", time=k8s_objects_pb2.Time()
            )
        ],
    )
    raw = k8s_objects_pb2.AnyObject(metadata=meta).SerializeToString()
    return wrap_unknown("apps/v1", "Deployment", raw + b"\x12\x03spc")  # + an unread spec field


def test_other_kinds_show_full_metadata_like_the_api() -> None:
    assert decode_object(deployment_bytes()) == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "generateName": "web-",
            "namespace": "prod",
            "uid": "u-1",
            "generation": 3,
            "creationTimestamp": None,
            "deletionTimestamp": "2024-01-02T03:04:05Z",
            "deletionGracePeriodSeconds": 30,
            "labels": {"a": "1", "b": "2"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "rs",
                    "uid": "u-0",
                    "controller": True,
                }
            ],
            "finalizers": ["example.com/keep"],
            "managedFields": [
                {"manager": "ctl", "operation": "Apply", "time": None, "subresource": "status"}
            ],
        },
    }


def test_configmap_binary_data_and_go_zero_time() -> None:
    configmap = k8s_objects_pb2.ConfigMap(
        metadata=k8s_objects_pb2.ObjectMeta(
            name="c", creationTimestamp=k8s_objects_pb2.Time(seconds=-62135596800)
        ),
        binaryData={"bin": b"\x00\xff"},
        immutable=True,
    )
    manifest = decode_object(encode_configmap_message(configmap))
    assert manifest["binaryData"] == {"bin": "AP8="}
    assert manifest["immutable"] is True
    assert manifest["metadata"] == {"name": "c", "creationTimestamp": None}


def test_invalid_utf8_in_a_string_field_shows_as_replacement_character() -> None:
    meta = b"\x0a\x03a\xffb"  # ObjectMeta.name = "a\xffb"
    data = wrap_unknown("v1", "Secret", b"\x0a" + bytes([len(meta)]) + meta)
    assert decode_object(data)["metadata"]["name"] == "a\ufffdb"


def test_invalid_utf8_in_map_values_and_keys() -> None:
    # upb hands such map values back as bytes: they show as U+FFFD, like Go's JSON.
    configmap = k8s_objects_pb2.ConfigMap()
    configmap.metadata.name = "cfg"
    configmap.data["mode"] = "identity"
    configmap.metadata.labels["tier"] = "identity"
    stored = encode_configmap_message(configmap).replace(b"identity", b"\x80dentity")
    shown = decode_object(stored)
    assert shown["data"] == {"mode": "\ufffddentity"}
    assert shown["metadata"]["labels"] == {"tier": "\ufffddentity"}
    # A Secret data key that is not UTF-8 cannot be shown: a clean refusal, not a crash.
    secret = k8s_objects_pb2.Secret()
    secret.metadata.name = "s"
    secret.data["identity"] = b"v"
    secret.data["other"] = b"w"
    stored = encode_secret_message(secret).replace(b"identity", b"\x80dentity")
    with pytest.raises(ObjectDecodeError, match="data: holds a key that is not UTF-8"):
        decode_object(stored)


def test_string_data_is_merged_over_data_like_the_apiserver_conversion() -> None:
    secret = k8s_objects_pb2.Secret(data={"a": b"old", "b": b"kept"}, stringData={"a": "new"})
    manifest = decode_object(encode_secret_message(secret))
    assert plain_data(manifest) == {"a": b"new", "b": b"kept"}
    assert "stringData" not in manifest


# --- errors ---


def secret_with_raw_label_key(key: bytes) -> bytes:
    entry = b"\x0a" + bytes([len(key)]) + key + b"\x12\x01v"
    meta = b"\x5a" + bytes([len(entry)]) + entry
    return wrap_unknown("v1", "Secret", b"\x0a" + bytes([len(meta)]) + meta)


def secret_with_meta(**fields: Any) -> bytes:
    secret = k8s_objects_pb2.Secret(metadata=k8s_objects_pb2.ObjectMeta(**fields))
    return wrap_unknown("v1", "Secret", secret.SerializeToString())


FAR_FUTURE = k8s_objects_pb2.Time(seconds=2**62)
NOT_JSON = k8s_objects_pb2.ManagedFieldsEntry(fieldsV1=k8s_objects_pb2.FieldsV1(Raw=b"hunter2"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "envelope: not a Kubernetes object"),
        (b"k8s:enc:aescbc:v1:key1:hunter2", "still encrypted"),
        (b"k8s\x01hunter2", "unknown protobuf encoding style"),
        (b"\xd9\xd9\xf7\xa1hunter2", "CBOR-encoded objects are not supported yet"),
        (b'["hunter2"]', "envelope: not a Kubernetes object"),
        (b'{"hunter2": ', "JSON: the stored object is not valid JSON (line 1, column 13)"),
        (b'{"hunter2": NaN}', "JSON: "),
        (b'{"a": "\xff hunter2"}', "JSON: the stored object is not valid UTF-8 JSON"),
        pytest.param(
            b'{"hunter2":' + b"[" * 50_000,
            "JSON: the stored object is nested too deeply",
            id="deeply-nested-json",
        ),
        (b"k8s\x00\xffhunter2", "runtime.Unknown: not a valid protobuf message"),
        (b"k8s\x00\x12\x07hunter2", "runtime.Unknown: the stored object has no apiVersion or kind"),
        (wrap_unknown("v1", "Secret", b"\x12\x10\x0a\x01k\x12\x0bhunter2"), "Secret: the stored"),
        (wrap_unknown("v1", "ConfigMap", b"\x0a\x05\xffhunt"), "ConfigMap: the stored v1"),
        (secret_with_raw_label_key(b"\xffhunter2"), "Secret: metadata.labels: holds a key or"),
        (
            secret_with_meta(creationTimestamp=FAR_FUTURE),
            "Secret: metadata.creationTimestamp: timestamp is outside years 0001..9999",
        ),
        (
            secret_with_meta(managedFields=[NOT_JSON]),
            "Secret: metadata.managedFields[0].fieldsV1: is not valid JSON",
        ),
    ],
)
def test_undecodable_values_raise_a_clear_error_without_the_data(data: bytes, message: str) -> None:
    with pytest.raises(ObjectDecodeError) as caught:
        decode_object(data)
    assert message in str(caught.value)
    assert "hunter2" not in str(caught.value)
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__  # no chained parser error
    assert isinstance(caught.value, SealboxError)


def test_bad_managed_field_time_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no time zone"):
        encode_secret(name="a", namespace="b", data={}, managed_fields=[{"time": "2024-01-02"}])


def test_non_bytes_secret_data_is_refused_without_echoing_it() -> None:
    with pytest.raises(
        InputError, match=r"Secret ns/s data\['k'\] must be bytes, not str"
    ) as caught:
        encode_secret(name="s", namespace="ns", data={"k": "hunter2"})  # type: ignore[dict-item]
    assert "hunter2" not in str(caught.value)


# --- writing defaults ---


def test_encode_secret_defaults_like_the_apiserver() -> None:
    before = int(time.time())
    manifest = decode_object(encode_secret(name="s", namespace="ns", data={"k": b"v"}, type_=""))
    meta = manifest["metadata"]
    assert manifest["type"] == "Opaque"
    assert uuid.UUID(meta["uid"]).version == 4
    assert before <= parse_rfc3339(meta["creationTimestamp"]) <= int(time.time())
    assert "managedFields" not in meta


def test_go_json_escapes_like_go() -> None:
    encoded = go_json({"f:a<b>&c": {}, "u": "\u2028ü"})
    assert encoded == '{"f:a\\u003cb\\u003e\\u0026c":{},"u":"\\u2028ü"}'.encode()
