"""Decode one stored etcd value into the provider that wrote it and the Kubernetes object inside.

Values often arrive through ``etcdctl get --print-value-only``, which appends a newline that is
not part of the stored bytes. When the exact bytes do not decode and end with ``\\n``, the value
is tried once more without it; the exact bytes always win when both would work.

Encoding is checked the other way round: the plaintext must be an object ``decode`` would show
again, and one that belongs at the key (its ``metadata.name`` and ``namespace`` are the key's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sealbox.encryption import ReadResult, StorageTransformers
from sealbox.errors import DecryptError, InputError, ObjectDecodeError
from sealbox.storage import decode_object, parse_key

__all__ = ["DecodedValue", "check_plaintext", "decode_value", "encode_value"]


@dataclass(frozen=True, slots=True)
class DecodedValue:
    """Who wrote a value, whether a rewrite would change it, and the object it holds."""

    read: ReadResult
    object: dict[str, Any] = field(repr=False)

    def as_dict(self) -> dict[str, Any]:
        """The ``sealbox etcd decode -o json`` document."""
        return {
            "provider": self.read.provider,
            "keyName": self.read.key_name,
            "stale": self.read.stale,
            "object": self.object,
        }


def decode_value(transformers: StorageTransformers, etcd_key: str, value: bytes) -> DecodedValue:
    """Decrypt with the config's chain for ``etcd_key``, then decode the object.

    Raises:
        DecryptError: no configured provider can read the value.
        ObjectDecodeError: it decrypts but does not hold a Kubernetes object.
        BackendUnavailable: a KMS plugin needed for it did not answer.
        InputError: ``etcd_key`` is not a key under the etcd prefix.
    """
    try:
        return _decode(transformers, etcd_key, value)
    except (DecryptError, ObjectDecodeError):
        if not value.endswith(b"\n"):
            raise
        try:
            return _decode(transformers, etcd_key, value[:-1])
        except (DecryptError, ObjectDecodeError):
            pass
        raise


def _decode(transformers: StorageTransformers, etcd_key: str, value: bytes) -> DecodedValue:
    result = transformers.read(etcd_key, value)
    return DecodedValue(read=result, object=decode_object(result.data))


def check_plaintext(etcd_key: str, plaintext: bytes, *, etcd_prefix: str) -> dict[str, Any]:
    """The object in ``plaintext`` if it is one that belongs at ``etcd_key``.

    Raises:
        InputError: the key is not a key under ``etcd_prefix``; the bytes are not a Kubernetes
            object (``k8s\\x00`` protobuf or JSON with apiVersion, kind and metadata); or its
            name or namespace is not the key's (the message names each difference).
    """
    where = parse_key(etcd_key, prefix=etcd_prefix)
    try:
        manifest = decode_object(plaintext)
    except ObjectDecodeError as exc:
        raise InputError(
            f"the plaintext is not a Kubernetes object ({exc}); give the object as the apiserver "
            "serializes it: k8s\\x00 protobuf or JSON"
        ) from None
    missing = [name for name in ("apiVersion", "kind") if not manifest.get(name)]
    metadata = manifest.get("metadata")
    if not isinstance(metadata, dict):
        missing.append("metadata")
        metadata = {}
    if missing:
        raise InputError(f"the plaintext object has no {', '.join(missing)}")
    found = {"name": metadata.get("name"), "namespace": metadata.get("namespace") or None}
    wanted = {"name": where.name, "namespace": where.namespace}
    differences = [
        f"metadata.{field} is {found[field]!r}, the key says {wanted[field]!r}"
        for field in ("name", "namespace")
        if found[field] != wanted[field]
    ]
    if differences:
        raise InputError(
            f"the plaintext object does not belong at {etcd_key}: {'; '.join(differences)}"
        )
    return manifest


def encode_value(transformers: StorageTransformers, etcd_key: str, plaintext: bytes) -> bytes:
    """The exact value the apiserver would store for ``plaintext`` (a serialized object).

    Raises:
        InputError: ``etcd_key`` is not a key under the etcd prefix, or ``plaintext`` is not an
            object that belongs there (see :func:`check_plaintext`).
        EncryptError / KMSPluginError / BackendUnavailable: the write provider cannot encrypt.
    """
    check_plaintext(etcd_key, plaintext, etcd_prefix=transformers.etcd_prefix)
    return transformers.write(etcd_key, plaintext)
