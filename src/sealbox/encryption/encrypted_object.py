"""The KMS v2 ``EncryptedObject`` record: parse, validate and serialize, like the apiserver.

::

    k8s:enc:kms:v2:<provider name>: ‖ protobuf EncryptedObject {
        1 encryptedData          bytes    AES-GCM output (layout depends on field 5)
        2 keyID                  string   1..1024 bytes
        3 encryptedDEKSource     bytes    plugin ciphertext of the DEK or seed, 1..1024 bytes
        4 annotations            map<string, bytes>  FQDN keys, Σ len(k)+len(v) ≤ 32 KiB
        5 encryptedDEKSourceType enum     0 AES_GCM_KEY, 1 HKDF_SHA256_XNONCE_AES_GCM_SEED
    }

``ValidateEncryptedObject`` runs on both encode and decode upstream, so a stored record that
breaks a limit cannot be read; the same holds here (kms-spec 2.6.1, 2.6.7).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from google.protobuf.message import DecodeError

from sealbox._proto import encrypted_object_pb2
from sealbox.kms import InvalidField, validate_annotations, validate_ciphertext, validate_key_id

__all__ = [
    "DEKSourceType",
    "EncryptedObject",
    "InvalidEncryptedObject",
    "cache_key",
    "parse_encrypted_object",
]


class DEKSourceType(IntEnum):
    AES_GCM_KEY = 0
    HKDF_SHA256_XNONCE_AES_GCM_SEED = 1


class InvalidEncryptedObject(InvalidField):
    """The record is not an EncryptedObject, or breaks a limit the apiserver enforces.

    Field checks shared with the plugin API raise :class:`~sealbox.kms.InvalidField`, the base;
    catch that to handle both.
    """


@dataclass(frozen=True, slots=True)
class EncryptedObject:
    encrypted_data: bytes = field(repr=False)
    key_id: str
    encrypted_dek_source: bytes = field(repr=False)
    annotations: Mapping[str, bytes] = field(default_factory=dict)
    dek_source_type: DEKSourceType = DEKSourceType.HKDF_SHA256_XNONCE_AES_GCM_SEED

    def __post_init__(self) -> None:
        if not self.encrypted_data:
            raise InvalidEncryptedObject("encryptedData is empty")
        try:
            validate_key_id(self.key_id)
            validate_ciphertext(self.encrypted_dek_source)
            validate_annotations(self.annotations)
        except InvalidField as exc:
            raise InvalidEncryptedObject(str(exc)) from None

    def serialize(self) -> bytes:
        message = encrypted_object_pb2.EncryptedObject(
            encryptedData=self.encrypted_data,
            keyID=self.key_id,
            encryptedDEKSource=self.encrypted_dek_source,
            annotations=dict(self.annotations),
            encryptedDEKSourceType=encrypted_object_pb2.EncryptedDEKSourceType.ValueType(
                self.dek_source_type
            ),
        )
        return message.SerializeToString(deterministic=True)


def parse_encrypted_object(payload: bytes) -> EncryptedObject:
    """Parse and validate a stored record.

    Raises:
        InvalidEncryptedObject: not a protobuf EncryptedObject, or a field breaks a limit.
    """
    message = encrypted_object_pb2.EncryptedObject()
    try:
        message.ParseFromString(payload)
    except DecodeError:
        raise InvalidEncryptedObject("not a valid EncryptedObject protobuf") from None
    except RecursionError:
        raise InvalidEncryptedObject("not a valid EncryptedObject protobuf") from None
    source_type = int(message.encryptedDEKSourceType)
    if source_type not in DEKSourceType._value2member_map_:
        raise InvalidEncryptedObject(f"unknown encryptedDEKSourceType {source_type}")
    return EncryptedObject(
        encrypted_data=message.encryptedData,
        key_id=message.keyID,
        encrypted_dek_source=message.encryptedDEKSource,
        annotations=dict(message.annotations),
        dek_source_type=DEKSourceType(source_type),
    )


def cache_key(record: EncryptedObject) -> bytes:
    """The apiserver's DEK-cache key (``generateCacheKey``): SHA-256 over the DEK source identity.

    ``uint32(type) ‖ u16-len(encryptedDEKSource) ‖ u16-len(keyID)`` then, with annotations,
    ``uint32(count)`` and ``u16-len(key) ‖ u16-len(value)`` for each key in sorted order.
    """
    parts = [
        struct.pack(">I", int(record.dek_source_type)),
        _u16_prefixed(record.encrypted_dek_source),
        _u16_prefixed(record.key_id.encode()),
    ]
    if record.annotations:
        parts.append(struct.pack(">I", len(record.annotations)))
        for name in sorted(record.annotations):
            parts.append(_u16_prefixed(name.encode()))
            parts.append(_u16_prefixed(record.annotations[name]))
    return hashlib.sha256(b"".join(parts)).digest()


def _u16_prefixed(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data
