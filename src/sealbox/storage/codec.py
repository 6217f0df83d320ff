"""Stored object bytes <-> Kubernetes manifests: what a plaintext etcd value means.

A decrypted (or identity) etcd value is one of::

    6b 38 73 00 | runtime.Unknown (proto2)                   built-in kinds (protobuf storage)
      k  8  s  \\0   1 typeMeta {1 apiVersion, 2 kind}        e.g. "v1" / "Secret", "apps/v1" / ...
                    2 raw      the kind's own message       v1.Secret, v1.ConfigMap, ...
                    3 contentEncoding ""  (present, empty)
                    4 contentType     ""  (present, empty)
    7b ...          JSON ("{")                              custom resources
    d9 d9 f7 ...    CBOR self-describe tag                  custom resources (CBOR storage gate)

``raw`` of a Secret is ``{1 metadata, 2 data map<string,bytes>, 3 type, 5 immutable}`` and of a
ConfigMap ``{1 metadata, 2 data map<string,string>, 3 binaryData map<string,bytes>, 4 immutable}``;
every other kind is read for its metadata (field 1) only. :mod:`sealbox.storage.meta` renders and
builds that metadata. Encoding mirrors kube-apiserver's gogo marshalers byte for byte, so seeded
values are indistinguishable from ones a real unencrypted cluster wrote.

Errors are :class:`ObjectDecodeError` and name the layer that failed (envelope, runtime.Unknown,
the kind, JSON); they never include stored bytes.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict, Unpack

from google.protobuf.message import DecodeError

from sealbox._proto import k8s_objects_pb2
from sealbox.errors import InputError, ObjectDecodeError
from sealbox.storage.meta import (
    FieldError,
    b64_map,
    build_meta,
    meta_to_dict,
    normalize_meta,
    str_map,
    text,
)

__all__ = [
    "CBOR_PREFIX",
    "ENCRYPTED_PREFIX",
    "PROTOBUF_MAGIC",
    "NewObjectFields",
    "decode_object",
    "encode_configmap",
    "encode_configmap_message",
    "encode_secret",
    "encode_secret_message",
    "unwrap_unknown",
    "wrap_unknown",
]

PROTOBUF_MAGIC = b"k8s\x00"
CBOR_PREFIX = b"\xd9\xd9\xf7"
ENCRYPTED_PREFIX = b"k8s:enc:"
"""Every value an encrypting provider writes starts with this (kms-spec 2.0); plaintext does not."""

Manifest = dict[str, Any]


def wrap_unknown(api_version: str, kind: str, raw: bytes) -> bytes:
    """``k8s\\x00`` + runtime.Unknown around a serialized object, as the apiserver stores it."""
    unknown = k8s_objects_pb2.Unknown(
        typeMeta=k8s_objects_pb2.TypeMeta(apiVersion=api_version, kind=kind),
        raw=raw,
        contentEncoding="",
        contentType="",
    )
    return PROTOBUF_MAGIC + unknown.SerializeToString(deterministic=True)


def unwrap_unknown(data: bytes) -> tuple[str, str, bytes]:
    """(apiVersion, kind, raw) of a ``k8s\\x00`` protobuf value."""
    if not data.startswith(PROTOBUF_MAGIC):
        raise ObjectDecodeError("envelope: the value does not start with the k8s\\x00 magic")
    unknown = k8s_objects_pb2.Unknown()
    try:
        unknown.ParseFromString(data[len(PROTOBUF_MAGIC) :])
    except DecodeError:
        raise ObjectDecodeError("runtime.Unknown: not a valid protobuf message") from None
    api_version = text(unknown.typeMeta.apiVersion)
    kind = text(unknown.typeMeta.kind)
    if not api_version or not kind:
        raise ObjectDecodeError("runtime.Unknown: the stored object has no apiVersion or kind")
    return api_version, kind, unknown.raw


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _parse_data_object(
    message: k8s_objects_pb2.Secret | k8s_objects_pb2.ConfigMap, raw: bytes
) -> Manifest:
    """Parse ``raw`` into ``message``; the manifest's start: metadata, and immutable if set."""
    message.ParseFromString(raw)
    out: Manifest = {"metadata": meta_to_dict(message.metadata)}
    if message.HasField("immutable"):
        out["immutable"] = message.immutable
    return out


def _decode_secret(raw: bytes) -> Manifest:
    secret = k8s_objects_pb2.Secret()
    out = _parse_data_object(secret, raw)
    data = b64_map(secret.data, "data")
    # Never in etcd, but if present the v1 -> internal conversion merges it over data.
    string_data = str_map(secret.stringData, "stringData")
    data.update((key, _b64(value.encode("utf-8"))) for key, value in string_data.items())
    if data:
        out["data"] = dict(sorted(data.items()))
    if secret_type := text(secret.type):
        out["type"] = secret_type
    return out


def _decode_configmap(raw: bytes) -> Manifest:
    configmap = k8s_objects_pb2.ConfigMap()
    out = _parse_data_object(configmap, raw)
    if data := str_map(configmap.data, "data"):
        out["data"] = data
    if binary_data := b64_map(configmap.binaryData, "binaryData"):
        out["binaryData"] = binary_data
    return out


def _decode_any(raw: bytes) -> Manifest:
    anything = k8s_objects_pb2.AnyObject()
    anything.ParseFromString(raw)
    return {"metadata": meta_to_dict(anything.metadata)}


_DECODERS: Mapping[tuple[str, str], Callable[[bytes], Manifest]] = {
    ("v1", "Secret"): _decode_secret,
    ("v1", "ConfigMap"): _decode_configmap,
}


def _decode_protobuf(data: bytes) -> Manifest:
    api_version, kind, raw = unwrap_unknown(data)
    decoder = _DECODERS.get((api_version, kind), _decode_any)
    try:
        body = decoder(raw)
    except DecodeError:
        raise ObjectDecodeError(
            f"{kind}: the stored {api_version} {kind} is not a valid protobuf message"
        ) from None
    except FieldError as exc:
        raise ObjectDecodeError(f"{kind}: {exc}") from None
    return {"apiVersion": api_version, "kind": kind, **body}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode_json(data: bytes) -> Manifest:
    try:
        manifest = json.loads(data, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise ObjectDecodeError(f"JSON: the stored object is not valid JSON ({where})") from None
    except ValueError:
        raise ObjectDecodeError("JSON: the stored object is not valid UTF-8 JSON") from None
    except RecursionError:
        raise ObjectDecodeError("JSON: the stored object is nested too deeply to decode") from None
    if not isinstance(manifest, dict):
        raise ObjectDecodeError("JSON: the stored value is not a JSON object")
    return manifest


def decode_object(data: bytes) -> Manifest:
    """Plaintext stored bytes -> the object as the API would show it (a JSON-like dict).

    Secrets and ConfigMaps come back whole (``data`` base64-encoded as in the API); other
    protobuf kinds as apiVersion, kind and metadata; JSON custom resources as stored.
    """
    if data.startswith(PROTOBUF_MAGIC):
        return _decode_protobuf(data)
    if data.startswith(ENCRYPTED_PREFIX):
        raise ObjectDecodeError(
            f"envelope: the value is still encrypted ({ENCRYPTED_PREFIX.decode()} prefix)"
        )
    if data.startswith(b"k8s"):
        raise ObjectDecodeError("envelope: unknown protobuf encoding style after the k8s magic")
    if data.startswith(b"{"):
        return _decode_json(data)
    if data.startswith(CBOR_PREFIX):
        raise ObjectDecodeError("CBOR-encoded objects are not supported yet")
    raise ObjectDecodeError(
        "envelope: not a Kubernetes object (expected k8s\\x00 protobuf, JSON or CBOR)"
    )


def encode_secret_message(secret: k8s_objects_pb2.Secret) -> bytes:
    """Store a v1 Secret message exactly as kube-apiserver would (the argument is not modified)."""
    message = k8s_objects_pb2.Secret()
    message.CopyFrom(secret)
    message.metadata.SetInParent()
    normalize_meta(message.metadata)
    message.type = message.type
    return wrap_unknown("v1", "Secret", message.SerializeToString(deterministic=True))


def encode_configmap_message(configmap: k8s_objects_pb2.ConfigMap) -> bytes:
    """Store a v1 ConfigMap message exactly as kube-apiserver would (the argument is untouched)."""
    message = k8s_objects_pb2.ConfigMap()
    message.CopyFrom(configmap)
    message.metadata.SetInParent()
    normalize_meta(message.metadata)
    return wrap_unknown("v1", "ConfigMap", message.SerializeToString(deterministic=True))


class NewObjectFields(TypedDict, total=False):
    """What a newly created Secret or ConfigMap may carry besides its name, namespace and data.

    ``uid`` defaults to a random UUID and ``creation_timestamp`` (Unix seconds) to now, as the
    apiserver sets them. ``managed_fields`` entries are in API form (``{"manager": ...,
    "time": "2024-01-02T03:04:05Z", "fieldsV1": {...}}``); none by default.
    """

    labels: Mapping[str, str] | None
    annotations: Mapping[str, str] | None
    uid: str | None
    creation_timestamp: int | None
    immutable: bool | None
    managed_fields: Sequence[Mapping[str, Any]] | None


def _new_meta(name: str, namespace: str, fields: NewObjectFields) -> k8s_objects_pb2.ObjectMeta:
    uid = fields.get("uid")
    creation_timestamp = fields.get("creation_timestamp")
    if creation_timestamp is None:
        creation_timestamp = int(time.time())
    try:
        return build_meta(
            name=name,
            namespace=namespace,
            uid=str(uuid.uuid4()) if uid is None else uid,
            creation_timestamp=creation_timestamp,
            labels=fields.get("labels"),
            annotations=fields.get("annotations"),
            managed_fields=fields.get("managed_fields"),
        )
    except ValueError as exc:
        raise InputError(f"object {namespace}/{name}: {exc}") from None


def _check_bytes_values(what: str, values: Mapping[str, object]) -> None:
    """Refuse non-bytes values up front, naming the key only (never the value)."""
    for key, value in values.items():
        if not isinstance(value, bytes):
            raise InputError(f"{what}[{key!r}] must be bytes, not {type(value).__name__}")


def encode_secret(
    *,
    name: str,
    namespace: str,
    data: Mapping[str, bytes],
    type_: str = "Opaque",
    **fields: Unpack[NewObjectFields],
) -> bytes:
    """The bytes kube-apiserver stores (identity provider) for a newly created Secret.

    Like the apiserver, an empty ``type_`` becomes ``Opaque``; see :class:`NewObjectFields` for
    the rest.
    """
    _check_bytes_values(f"Secret {namespace}/{name} data", data)
    meta = _new_meta(name, namespace, fields)
    secret = k8s_objects_pb2.Secret(metadata=meta, data=dict(data), type=type_ or "Opaque")
    immutable = fields.get("immutable")
    if immutable is not None:
        secret.immutable = immutable
    return encode_secret_message(secret)


def encode_configmap(
    *,
    name: str,
    namespace: str,
    data: Mapping[str, str] | None = None,
    binary_data: Mapping[str, bytes] | None = None,
    **fields: Unpack[NewObjectFields],
) -> bytes:
    """The bytes kube-apiserver stores (identity provider) for a newly created ConfigMap.

    See :class:`NewObjectFields` for what else it may carry.
    """
    _check_bytes_values(f"ConfigMap {namespace}/{name} binaryData", binary_data or {})
    meta = _new_meta(name, namespace, fields)
    configmap = k8s_objects_pb2.ConfigMap(
        metadata=meta, data=dict(data or {}), binaryData=dict(binary_data or {})
    )
    immutable = fields.get("immutable")
    if immutable is not None:
        configmap.immutable = immutable
    return encode_configmap_message(configmap)
