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
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from google.protobuf.message import DecodeError

from sealbox._proto import encrypted_object_pb2

__all__ = [
    "MAX_ANNOTATIONS_BYTES",
    "MAX_DEK_SOURCE_BYTES",
    "MAX_KEY_ID_BYTES",
    "DEKSourceType",
    "EncryptedObject",
    "InvalidEncryptedObject",
    "cache_key",
    "key_id_hash",
    "parse_encrypted_object",
    "validate_annotations",
    "validate_key_id",
]

MAX_KEY_ID_BYTES = 1024
MAX_DEK_SOURCE_BYTES = 1024
MAX_ANNOTATIONS_BYTES = 32 * 1024
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_MAX_SUBDOMAIN_CHARS = 253


class DEKSourceType(IntEnum):
    AES_GCM_KEY = 0
    HKDF_SHA256_XNONCE_AES_GCM_SEED = 1


class InvalidEncryptedObject(ValueError):
    """The record breaks a limit the apiserver enforces. The message names the field."""


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
        validate_key_id(self.key_id)
        if not self.encrypted_dek_source:
            raise InvalidEncryptedObject("encryptedDEKSource is empty")
        if len(self.encrypted_dek_source) > MAX_DEK_SOURCE_BYTES:
            raise InvalidEncryptedObject(
                f"encryptedDEKSource is {len(self.encrypted_dek_source)} bytes, "
                f"at most {MAX_DEK_SOURCE_BYTES} allowed"
            )
        validate_annotations(self.annotations)

    def serialize(self) -> bytes:
        message = encrypted_object_pb2.EncryptedObject(
            encryptedData=self.encrypted_data,
            keyID=self.key_id,
            encryptedDEKSource=self.encrypted_dek_source,
            annotations=dict(self.annotations),
            encryptedDEKSourceType=int(self.dek_source_type),  # type: ignore[arg-type]  # enum int
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


def validate_key_id(key_id: str) -> None:
    size = len(key_id.encode())
    if size == 0:
        raise InvalidEncryptedObject("keyID is empty")
    if size > MAX_KEY_ID_BYTES:
        raise InvalidEncryptedObject(f"keyID is {size} bytes, at most {MAX_KEY_ID_BYTES} allowed")


def validate_annotations(annotations: Mapping[str, bytes]) -> None:
    """FQDN keys (lowercase RFC 1123 subdomain, at least two labels) and at most 32 KiB in all."""
    total = 0
    for name, value in annotations.items():
        if not _is_fqdn(name):
            raise InvalidEncryptedObject(
                f"annotation key {name[:80]!r} is not a fully qualified domain name "
                "(lowercase RFC 1123 subdomain with at least two labels, e.g. version.example.io)"
            )
        total += len(name.encode()) + len(value)
    if total > MAX_ANNOTATIONS_BYTES:
        raise InvalidEncryptedObject(
            f"annotations are {total} bytes, at most {MAX_ANNOTATIONS_BYTES} allowed"
        )


def _is_fqdn(name: str) -> bool:
    trimmed = name[:-1] if name.endswith(".") else name
    return (
        0 < len(trimmed) <= _MAX_SUBDOMAIN_CHARS
        and _DNS1123_SUBDOMAIN.fullmatch(trimmed) is not None
        and "." in trimmed
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


def key_id_hash(key_id: str) -> str:
    """``sha256:<hex>`` of a key_id, the form the apiserver uses in metrics and errors."""
    return "sha256:" + hashlib.sha256(key_id.encode()).hexdigest()
