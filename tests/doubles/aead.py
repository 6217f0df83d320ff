"""AES-256-GCM with the nonce in front, for the test doubles' key wrapping (not Sealbox's code)."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["NONCE_BYTES", "UnwrapFailed", "gcm_open", "gcm_seal"]

NONCE_BYTES = 12


class UnwrapFailed(Exception):
    """The ciphertext was not produced under this key (or was tampered with)."""


def gcm_seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """``nonce(12) ‖ AES-GCM(plaintext, aad) ‖ tag(16)`` with a fresh random nonce."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def gcm_open(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    """The plaintext of :func:`gcm_seal`'s output; :class:`UnwrapFailed` if it does not open."""
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except (InvalidTag, ValueError):
        raise UnwrapFailed from None
