"""An independent Sealed Secrets sealer and unsealer, written from the format description only.

It shares no code path with ``sealbox.sealing``: RSA-OAEP (SHA-256, MGF1-SHA-256) is done by
hand with ``hashlib`` and modular exponentiation on the key numbers, the length prefix with
``int.to_bytes``, and AES-GCM through the streaming ``Cipher`` API instead of ``AESGCM``. A
value that both this module and ``src/`` agree on is evidence about the format, not only about
one implementation (as pyca keeps custom vectors checked by a second implementation).
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

HASH_SIZE = 32


class ReferenceUnsealError(Exception):
    """The reference unsealer could not open a value (any reason)."""


def _mgf1(seed: bytes, length: int) -> bytes:
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:length]


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def oaep_encrypt(public: rsa.RSAPublicNumbers, message: bytes, label: bytes) -> bytes:
    """RFC 8017 RSAES-OAEP-ENCRYPT with SHA-256 and MGF1-SHA-256."""
    k = (public.n.bit_length() + 7) // 8
    padding = bytes(k - len(message) - 2 * HASH_SIZE - 2)
    block = hashlib.sha256(label).digest() + padding + b"\x01" + message
    seed = os.urandom(HASH_SIZE)
    masked_block = _xor(block, _mgf1(seed, len(block)))
    masked_seed = _xor(seed, _mgf1(masked_block, HASH_SIZE))
    encoded = int.from_bytes(b"\x00" + masked_seed + masked_block, "big")
    return pow(encoded, public.e, public.n).to_bytes(k, "big")


def oaep_decrypt(private: rsa.RSAPrivateNumbers, ciphertext: bytes, label: bytes) -> bytes:
    """RFC 8017 RSAES-OAEP-DECRYPT (CRT), raising :class:`ReferenceUnsealError` on any mismatch."""
    n = private.public_numbers.n
    k = (n.bit_length() + 7) // 8
    c = int.from_bytes(ciphertext, "big")
    if len(ciphertext) != k or c >= n:
        raise ReferenceUnsealError("bad RSA ciphertext size")
    m1 = pow(c, private.dmp1, private.p)
    m2 = pow(c, private.dmq1, private.q)
    h = (private.iqmp * (m1 - m2)) % private.p
    encoded = (m2 + h * private.q).to_bytes(k, "big")
    masked_seed, masked_block = encoded[1 : 1 + HASH_SIZE], encoded[1 + HASH_SIZE :]
    seed = _xor(masked_seed, _mgf1(masked_block, HASH_SIZE))
    block = _xor(masked_block, _mgf1(seed, len(masked_block)))
    rest = block[HASH_SIZE:].lstrip(b"\x00")
    if (
        encoded[0] != 0
        or not hmac.compare_digest(block[:HASH_SIZE], hashlib.sha256(label).digest())
        or not rest.startswith(b"\x01")
    ):
        raise ReferenceUnsealError("OAEP check failed")
    return rest[1:]


def seal(public_key: rsa.RSAPublicKey, plaintext: bytes, label: bytes) -> bytes:
    """``len(wrapped)`` (2 bytes, big-endian) + OAEP(session key) + AES-256-GCM(zero nonce)."""
    session_key = os.urandom(32)
    wrapped = oaep_encrypt(public_key.public_numbers(), session_key, label)
    encryptor = Cipher(algorithms.AES(session_key), modes.GCM(b"\x00" * 12)).encryptor()
    body = encryptor.update(plaintext) + encryptor.finalize()
    return len(wrapped).to_bytes(2, "big") + wrapped + body + encryptor.tag


def unseal(private_key: rsa.RSAPrivateKey, sealed: bytes, label: bytes) -> bytes:
    """The plaintext of ``sealed`` under one key, or :class:`ReferenceUnsealError`."""
    if len(sealed) < 2:
        raise ReferenceUnsealError("too short")
    size = sealed[0] * 256 + sealed[1]
    wrapped, rest = sealed[2 : 2 + size], sealed[2 + size :]
    if len(wrapped) != size or len(rest) < 16:
        raise ReferenceUnsealError("too short")
    session_key = oaep_decrypt(private_key.private_numbers(), wrapped, label)
    if len(session_key) != 32:
        raise ReferenceUnsealError("session key size")
    body, tag = rest[:-16], rest[-16:]
    decryptor = Cipher(algorithms.AES(session_key), modes.GCM(b"\x00" * 12, tag)).decryptor()
    try:
        return decryptor.update(body) + decryptor.finalize()
    except Exception as error:
        raise ReferenceUnsealError("GCM tag mismatch") from error
