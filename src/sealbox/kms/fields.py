"""The KMS v2 API's field rules, enforced by both ends: key_id, ciphertext and annotation limits.

kube-apiserver validates every plugin answer it stores (``ValidateEncryptedObject``, kms-spec
2.6.7), and refuses to read a stored record that breaks a limit, so the plugin checks its own
answers against the same rules before sending them::

    key_id                1..1024 bytes
    ciphertext            1..1024 bytes       (the wrapped DEK or seed: encryptedDEKSource)
    annotations           keys are FQDNs (lowercase RFC 1123 subdomain, at least two labels);
                          Σ len(key) + len(value) <= 32 KiB

The apiserver never logs a key_id: metrics and errors show ``sha256:<hex>`` of it
(:func:`key_id_hash`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping

__all__ = [
    "MAX_ANNOTATIONS_BYTES",
    "MAX_CIPHERTEXT_BYTES",
    "MAX_KEY_ID_BYTES",
    "InvalidField",
    "key_id_hash",
    "validate_annotations",
    "validate_ciphertext",
    "validate_key_id",
]

MAX_KEY_ID_BYTES = 1024
MAX_CIPHERTEXT_BYTES = 1024
MAX_ANNOTATIONS_BYTES = 32 * 1024
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_MAX_SUBDOMAIN_CHARS = 253


class InvalidField(ValueError):
    """A KMS API field breaks a limit the apiserver enforces. The message names the field."""


def validate_key_id(key_id: str) -> None:
    """Raises :class:`InvalidField` unless ``key_id`` is 1..1024 bytes."""
    size = len(key_id.encode())
    if size == 0:
        raise InvalidField("keyID is empty")
    if size > MAX_KEY_ID_BYTES:
        raise InvalidField(f"keyID is {size} bytes, at most {MAX_KEY_ID_BYTES} allowed")


def validate_ciphertext(ciphertext: bytes, *, field: str = "encryptedDEKSource") -> None:
    """Raises :class:`InvalidField` unless ``ciphertext`` is 1..1024 bytes."""
    if not ciphertext:
        raise InvalidField(f"{field} is empty")
    if len(ciphertext) > MAX_CIPHERTEXT_BYTES:
        raise InvalidField(
            f"{field} is {len(ciphertext)} bytes, at most {MAX_CIPHERTEXT_BYTES} allowed"
        )


def validate_annotations(annotations: Mapping[str, bytes]) -> None:
    """Raises :class:`InvalidField` unless every key is an FQDN and the total is <= 32 KiB."""
    total = 0
    for name, value in annotations.items():
        if not _is_fqdn(name):
            raise InvalidField(
                f"annotation key {name[:80]!r} is not a fully qualified domain name "
                "(lowercase RFC 1123 subdomain with at least two labels, e.g. version.example.io)"
            )
        total += len(name.encode()) + len(value)
    if total > MAX_ANNOTATIONS_BYTES:
        raise InvalidField(
            f"annotations are {total} bytes, at most {MAX_ANNOTATIONS_BYTES} allowed"
        )


def _is_fqdn(name: str) -> bool:
    trimmed = name[:-1] if name.endswith(".") else name
    return (
        0 < len(trimmed) <= _MAX_SUBDOMAIN_CHARS
        and _DNS1123_SUBDOMAIN.fullmatch(trimmed) is not None
        and "." in trimmed
    )


def key_id_hash(key_id: str) -> str:
    """``sha256:<hex>`` of a key_id, the form the apiserver uses in metrics and errors."""
    return "sha256:" + hashlib.sha256(key_id.encode()).hexdigest()
