"""Sealing keys kept wrapped by a Sealbox KMS backend, so etcd never holds them in clear.

Upstream keeps ``tls.key`` as a plain PEM in a Secret (sealed-secrets #779): whoever reads etcd,
or a backup of it, holds every sealing key. A :class:`KeyWrapper` envelope-encrypts the PEM
instead, with the same backend modules as ``sealbox kms serve`` (local keyring, PKCS#11, OpenBao
or Vault transit, AWS KMS), configured by one plugin.yaml ``backends`` entry.

Layout of a wrapped key Secret (``docs/sealing-controller.md``, "Keys in a KMS"): still
``kubernetes.io/tls`` with the active label, ``tls.crt`` in clear (kubeseal, upstream tools and
backups read the certificate), ``tls.key`` present but empty (the apiserver requires the field for
the type), the envelope in ``data["tls.key.wrapped"]`` and the annotation
``sealbox.io/key-wrapped-by: <type>``. The envelope is JSON: a random 32-byte DEK wrapped by the
backend (its ``key_id`` and annotations kept, as the KMS v2 API keeps them), and the PEM under
AES-256-GCM with that DEK, a random nonce and the certificate's SHA-256 fingerprint as associated
data, so an envelope moved under another certificate does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealbox.errors import InvalidSealingKey
from sealbox.kms.backends import Backend, configure_backend
from sealbox.sealing import SealingKey

__all__ = [
    "WRAPPED_BY_ANNOTATION",
    "WRAPPED_KEY_FIELD",
    "KeyWrapper",
    "WrappedKeyFields",
    "certificate_fingerprint",
]

WRAPPED_BY_ANNOTATION = "sealbox.io/key-wrapped-by"
WRAPPED_KEY_FIELD = "tls.key.wrapped"
_VERSION = 1
_DEK_BYTES = 32
_NONCE_BYTES = 12


def certificate_fingerprint(certificate_pem: bytes) -> str:
    """Hex SHA-256 of the first certificate's DER: the associated data of a wrapped key."""
    certificate = x509.load_pem_x509_certificates(certificate_pem)[0]
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True, slots=True)
class WrappedKeyFields:
    """What a wrapped key Secret carries: its ``data`` (raw bytes) and its annotations."""

    data: dict[str, bytes]
    annotations: dict[str, str]


class KeyWrapper:
    """Wraps and unwraps sealing keys' PEMs with one KMS backend (``kind`` names it)."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    @classmethod
    def from_entry(cls, entry: Mapping[str, object], base_dir: Path) -> KeyWrapper:
        """The wrapper for one plugin.yaml ``backends`` entry; relative paths in ``base_dir``.

        Raises what :func:`~sealbox.kms.backends.configure_backend` and ``serve`` raise
        (KeyError, pydantic.ValidationError, ConfigError, BackendUnavailable).
        """
        return cls(configure_backend(entry).serve(base_dir))

    @property
    def kind(self) -> str:
        """The backend type (``local``, ``pkcs11``, ``vault``, ``awskms``): the annotation."""
        return self._backend.kind

    def __repr__(self) -> str:
        return f"KeyWrapper({self._backend.label})"

    def close(self) -> None:
        self._backend.close()

    async def wrap(self, key: SealingKey) -> WrappedKeyFields:
        """The Secret fields of ``key`` wrapped: no private key bytes in clear anywhere."""
        certificate_pem = key.certificate_pem()
        dek = os.urandom(_DEK_BYTES)
        nonce = os.urandom(_NONCE_BYTES)
        aad = certificate_fingerprint(certificate_pem).encode()
        ciphertext = AESGCM(dek).encrypt(nonce, key.private_key_pem(), aad)
        wrapped = await self._backend.wrap(dek)
        envelope = {
            "version": _VERSION,
            "keyID": wrapped.key_id,
            "wrappedDEK": _b64(wrapped.ciphertext),
            "annotations": {k: _b64(v) for k, v in sorted(wrapped.annotations.items())},
            "nonce": _b64(nonce),
            "ciphertext": _b64(ciphertext),
        }
        return WrappedKeyFields(
            data={
                "tls.crt": certificate_pem,
                "tls.key": b"",
                WRAPPED_KEY_FIELD: json.dumps(envelope, sort_keys=True).encode(),
            },
            annotations={WRAPPED_BY_ANNOTATION: self.kind},
        )

    async def unwrap(self, envelope: bytes, certificate_pem: bytes, *, source: str) -> bytes:
        """The private key PEM in ``envelope``; :class:`InvalidSealingKey` naming ``source``
        when the envelope is malformed, belongs to another certificate, or the backend refuses
        (the backend's own errors, e.g. unavailable, pass through)."""
        fields = _parse_envelope(envelope, source)
        dek = await self._backend.unwrap(
            fields["wrappedDEK"], fields["keyID"], fields["annotations"]
        )
        try:
            aad = certificate_fingerprint(certificate_pem).encode()
            return AESGCM(dek).decrypt(fields["nonce"], fields["ciphertext"], aad)
        except (InvalidTag, ValueError, IndexError):
            raise InvalidSealingKey(
                f"{source}: {WRAPPED_KEY_FIELD} does not open for the certificate in tls.crt"
            ) from None


def _parse_envelope(envelope: bytes, source: str) -> dict[str, Any]:
    bad = InvalidSealingKey(
        f"{source}: {WRAPPED_KEY_FIELD} is not a version {_VERSION} Sealbox wrapped key"
    )
    try:
        document = json.loads(envelope)
        if not isinstance(document, dict) or document.get("version") != _VERSION:
            raise bad
        annotations = document.get("annotations") or {}
        if not isinstance(annotations, dict):
            raise bad
        return {
            "keyID": str(document["keyID"]),
            "wrappedDEK": base64.b64decode(document["wrappedDEK"], validate=True),
            "annotations": {
                str(k): base64.b64decode(v, validate=True) for k, v in annotations.items()
            },
            "nonce": base64.b64decode(document["nonce"], validate=True),
            "ciphertext": base64.b64decode(document["ciphertext"], validate=True),
        }
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise bad from None
