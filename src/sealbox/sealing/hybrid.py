"""The Sealed Secrets hybrid format, byte for byte, so values sealed by ``kubeseal`` open here
and values sealed here open in the upstream controller.

One sealed value is ``len(RSA ciphertext)`` as 2 bytes big-endian, the RSA-OAEP ciphertext of a
fresh 32-byte session key (SHA-256 for both the OAEP hash and MGF1, the scope label as the OAEP
label), then AES-256-GCM of the plaintext under that key with a nonce of 12 zero bytes and no
associated data, tag appended. The zero nonce is safe only because every session key seals one
value. The format carries no key id, so :func:`unseal` tries each key it is given in order.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealbox.errors import NoMatchingKey, SealedValueTooShort

__all__ = ["GCM_NONCE", "SESSION_KEY_SIZE", "oaep", "seal", "unseal"]

SESSION_KEY_SIZE = 32
GCM_NONCE = bytes(12)
_PREFIX = struct.Struct(">H")


def oaep(label: bytes) -> padding.OAEP:
    # An empty label is the same as no label (Go and pyca agree); pyca wants None for it.
    return padding.OAEP(
        mgf=padding.MGF1(algorithm=hashes.SHA256()),
        algorithm=hashes.SHA256(),
        label=label or None,
    )


def seal(public_key: rsa.RSAPublicKey, plaintext: bytes, label: bytes) -> bytes:
    """Seal ``plaintext`` to ``public_key`` under the scope ``label``; random each call."""
    session_key = os.urandom(SESSION_KEY_SIZE)
    wrapped = public_key.encrypt(session_key, oaep(label))
    sealed = AESGCM(session_key).encrypt(GCM_NONCE, plaintext, None)
    return _PREFIX.pack(len(wrapped)) + wrapped + sealed


def unseal(
    private_keys: Sequence[rsa.RSAPrivateKey],
    ciphertext: bytes,
    label: bytes,
    *,
    on_attempt: Callable[[], None] | None = None,
) -> bytes:
    """Open a sealed value with the first of ``private_keys`` that fits, under ``label``.

    ``on_attempt`` is called before each RSA decryption, so callers can count the private-key
    operations the missing key id costs.

    Raises :class:`SealedValueTooShort` for a value shorter than its prefix promises and
    :class:`NoMatchingKey` when no key opens it (wrong key, wrong scope, or tampered bytes).
    """
    if len(ciphertext) < _PREFIX.size:
        raise SealedValueTooShort("sealed value is too short: no length prefix")
    (wrapped_size,) = _PREFIX.unpack_from(ciphertext)
    end = _PREFIX.size + wrapped_size
    if len(ciphertext) < end:
        raise SealedValueTooShort("sealed value is too short for its length prefix")
    wrapped, sealed = ciphertext[_PREFIX.size : end], ciphertext[end:]
    for key in private_keys:
        modulus_size = (key.key_size + 7) // 8
        if wrapped_size > modulus_size:
            continue
        if on_attempt is not None:
            on_attempt()
        try:
            # Go reads the RSA ciphertext as a number, so a shorter one is zero-padded in front.
            session_key = key.decrypt(wrapped.rjust(modulus_size, b"\0"), oaep(label))
        except ValueError:
            continue
        try:
            # Like Go's aes.NewCipher, any AES key size opens; other sizes are refused.
            return AESGCM(session_key).decrypt(GCM_NONCE, sealed, None)
        except (InvalidTag, ValueError):
            continue
    raise NoMatchingKey(f"no key could decrypt secret ({len(private_keys)} keys tried)")
