"""The Sealbox envelope: one sealed value for several keys, each named by its key id.

Upstream's format (:mod:`.hybrid`) carries no key id, so a controller tries every key it holds
(on average half of them) and nobody can say which key sealed a value without trying. The
envelope keeps upstream's primitives and scope labels and adds what was missing::

    "SBX" 0x01                       magic and version (4 bytes)
    n                                number of recipients, 1..255 (1 byte)
    n x (key id, L, wrapped)         key id: SHA-256 of the recipient's SubjectPublicKeyInfo
                                     (32 bytes); L: 2 bytes big-endian; wrapped: RSA-OAEP
                                     (SHA-256, MGF1-SHA-256, scope label) of the session key
    AES-256-GCM(session key, zero nonce, plaintext, AAD = every byte above), tag appended

One fresh 32-byte session key per value, wrapped once per recipient, so the zero nonce stays safe
(the key seals one message). The header is the GCM associated data: a recipient list that was
added to, removed from or reordered does not open. The first two bytes read as an upstream
length prefix of 21,314 bytes, longer than any RSA ciphertext, so an upstream controller refuses
an envelope ("no key could decrypt secret") and never misreads it.

Recipients are several clusters, or a cluster plus an offline recovery key; the controller opens
the value with the one key whose id it finds (:class:`~.keyring.KeyRing`).
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealbox.errors import NoMatchingKey, SealedValueTooShort, SealError
from sealbox.sealing.hybrid import GCM_NONCE, SESSION_KEY_SIZE, oaep

__all__ = [
    "ENVELOPE_MAGIC",
    "MAX_RECIPIENTS",
    "envelope_key_ids",
    "is_envelope",
    "open_envelope",
    "seal_envelope",
]

ENVELOPE_MAGIC = b"SBX\x01"
MAX_RECIPIENTS = 255
_KEY_ID_SIZE = 32
_LENGTH = struct.Struct(">H")


def _key_id(public_key: rsa.RSAPublicKey) -> bytes:
    return hashlib.sha256(
        public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).digest()


def seal_envelope(recipients: Sequence[rsa.RSAPublicKey], plaintext: bytes, label: bytes) -> bytes:
    """Seal ``plaintext`` so each of ``recipients`` opens it under the scope ``label``."""
    ids = [_key_id(key) for key in recipients]
    if not 1 <= len(recipients) <= MAX_RECIPIENTS:
        raise SealError(f"an envelope takes 1 to {MAX_RECIPIENTS} recipients, not {len(ids)}")
    if len(set(ids)) != len(ids):
        raise SealError("the same certificate is given twice as a recipient")
    session_key = os.urandom(SESSION_KEY_SIZE)
    header = bytearray(ENVELOPE_MAGIC)
    header.append(len(recipients))
    for key, key_id in zip(recipients, ids, strict=True):
        wrapped = key.encrypt(session_key, oaep(label))
        header += key_id + _LENGTH.pack(len(wrapped)) + wrapped
    return bytes(header) + AESGCM(session_key).encrypt(GCM_NONCE, plaintext, bytes(header))


def is_envelope(value: bytes) -> bool:
    """Whether ``value`` is a Sealbox envelope (else it is upstream's format, or garbage)."""
    return value.startswith(ENVELOPE_MAGIC)


def _parse(value: bytes) -> tuple[list[tuple[str, bytes]], int]:
    """The (key id, wrapped key) entries and where the GCM ciphertext starts."""
    if len(value) < len(ENVELOPE_MAGIC) + 1:
        raise SealedValueTooShort("sealed envelope is too short: no recipient count")
    offset = len(ENVELOPE_MAGIC) + 1
    entries = []
    for _ in range(value[len(ENVELOPE_MAGIC)]):
        if len(value) < offset + _KEY_ID_SIZE + _LENGTH.size:
            raise SealedValueTooShort("sealed envelope is too short for its recipients")
        key_id = value[offset : offset + _KEY_ID_SIZE].hex()
        offset += _KEY_ID_SIZE
        (size,) = _LENGTH.unpack_from(value, offset)
        offset += _LENGTH.size
        if len(value) < offset + size:
            raise SealedValueTooShort("sealed envelope is too short for its recipients")
        entries.append((key_id, value[offset : offset + size]))
        offset += size
    return entries, offset


def envelope_key_ids(value: bytes) -> tuple[str, ...]:
    """The key ids (hex fingerprints) ``value`` was sealed to, in order."""
    entries, _ = _parse(value)
    return tuple(key_id for key_id, _ in entries)


def open_envelope(
    value: bytes,
    label: bytes,
    key_for: Callable[[str], rsa.RSAPrivateKey | None],
    *,
    on_attempt: Callable[[], None] | None = None,
) -> bytes:
    """Open ``value`` with the first recipient ``key_for`` knows: one RSA operation, not a trial.

    ``on_attempt`` is called before each RSA decryption (for operation counts). Raises
    :class:`NoMatchingKey` when no recipient's key is held, or when the held key does not open
    it (wrong scope label, tampering), and :class:`SealedValueTooShort` for a cut value.
    """
    entries, start = _parse(value)
    header, sealed = value[:start], value[start:]
    for key_id, wrapped in entries:
        key = key_for(key_id)
        if key is None:
            continue
        if on_attempt is not None:
            on_attempt()
        modulus_size = (key.key_size + 7) // 8
        try:
            session_key = key.decrypt(wrapped.rjust(modulus_size, b"\0"), oaep(label))
            return AESGCM(session_key).decrypt(GCM_NONCE, sealed, header)
        except (InvalidTag, ValueError):
            raise NoMatchingKey("no key could decrypt secret (sealed envelope)") from None
    raise NoMatchingKey(
        f"no key could decrypt secret: none of the envelope's {len(entries)} recipients is held"
    )
