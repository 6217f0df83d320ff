"""Decode one stored etcd value into the provider that wrote it and the Kubernetes object inside.

Values often arrive through ``etcdctl get --print-value-only``, which appends a newline that is
not part of the stored bytes. When the exact bytes do not decode and end with ``\\n``, the value
is tried once more without it; the exact bytes always win when both would work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sealbox.encryption import ReadResult, StorageTransformers
from sealbox.errors import DecryptError, ObjectDecodeError
from sealbox.storage import decode_object

__all__ = ["DecodedValue", "decode_value", "encode_value"]


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


def encode_value(transformers: StorageTransformers, etcd_key: str, plaintext: bytes) -> bytes:
    """The exact value the apiserver would store for ``plaintext`` (a serialized object).

    Raises:
        EncryptError / KMSPluginError / BackendUnavailable: the write provider cannot encrypt.
        InputError: ``etcd_key`` is not a key under the etcd prefix.
    """
    return transformers.write(etcd_key, plaintext)
