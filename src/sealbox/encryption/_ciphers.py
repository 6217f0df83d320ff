"""Byte-level ciphers exactly as kube-apiserver's ``storage/value/encrypt`` packages use them.

Private on purpose: these are the sharp primitives. Providers combine them with prefixes and
keys. Every failure raises :class:`CipherFailure` with no detail, so no caller can learn which
step (length, padding, tag) rejected the bytes.

::

    aescbc          IV(16) ‖ AES-CBC(PKCS#7(plaintext))                    no AAD, no MAC
    aesgcm          nonce(12) ‖ AES-GCM(plaintext, aad) ‖ tag(16)          AAD = etcd key
    secretbox       nonce(24) ‖ tag(16) ‖ XSalsa20(plaintext)              no AAD
    gcm-extended    info(32) ‖ nonce(12) ‖ AES-GCM(HKDF-Expand(seed, info), aad) ‖ tag(16)
"""

from __future__ import annotations

from collections.abc import Callable

import nacl.exceptions
import nacl.secret
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

__all__ = [
    "AES_BLOCK_BYTES",
    "GCM_NONCE_BYTES",
    "GCM_TAG_BYTES",
    "HKDF_INFO_BYTES",
    "SECRETBOX_KEY_BYTES",
    "SECRETBOX_NONCE_BYTES",
    "CipherFailure",
    "RandBytes",
    "cbc_decrypt",
    "cbc_encrypt",
    "derive_seed_key",
    "extended_gcm_open",
    "extended_gcm_seal",
    "gcm_open",
    "gcm_seal",
    "secretbox_open",
    "secretbox_seal",
]

RandBytes = Callable[[int], bytes]

AES_BLOCK_BYTES = 16
GCM_NONCE_BYTES = 12
GCM_TAG_BYTES = 16
SECRETBOX_KEY_BYTES = 32
SECRETBOX_NONCE_BYTES = 24
SECRETBOX_TAG_BYTES = 16
HKDF_INFO_BYTES = 32
DERIVED_KEY_BYTES = 32
MIN_SEED_BYTES = 32


class CipherFailure(Exception):
    """The bytes did not decrypt. Deliberately says nothing about why."""


def cbc_encrypt(key: bytes, plaintext: bytes, *, rand_bytes: RandBytes) -> bytes:
    iv = rand_bytes(AES_BLOCK_BYTES)
    padder = padding.PKCS7(AES_BLOCK_BYTES * 8).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return iv + encryptor.update(padded) + encryptor.finalize()


def cbc_decrypt(key: bytes, data: bytes) -> bytes:
    # Same checks as aes.go cbc.TransformFromStorage: an IV, whole blocks, and PKCS#7 padding
    # whose length is bounded by the plaintext (not the block size) with every pad byte equal.
    if len(data) < 2 * AES_BLOCK_BYTES or len(data) % AES_BLOCK_BYTES != 0:
        raise CipherFailure
    iv, body = data[:AES_BLOCK_BYTES], data[AES_BLOCK_BYTES:]
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(body) + decryptor.finalize()
    pad = padded[-1]
    if pad == 0 or pad > len(padded) or padded[-pad:] != bytes([pad]) * pad:
        raise CipherFailure
    return padded[:-pad]


def gcm_seal(key: bytes, plaintext: bytes, aad: bytes, *, nonce: bytes) -> bytes:
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def gcm_open(key: bytes, data: bytes, aad: bytes) -> bytes:
    if len(data) < GCM_NONCE_BYTES + GCM_TAG_BYTES:
        raise CipherFailure
    try:
        return AESGCM(key).decrypt(data[:GCM_NONCE_BYTES], data[GCM_NONCE_BYTES:], aad)
    except InvalidTag:
        raise CipherFailure from None


def derive_seed_key(seed: bytes, info: bytes) -> bytes:
    """HKDF-Expand(SHA-256, PRK=seed, info) — expand only, no extract, no salt (kms-spec 2.6.2)."""
    if len(seed) < MIN_SEED_BYTES:
        raise CipherFailure
    return HKDFExpand(algorithm=hashes.SHA256(), length=DERIVED_KEY_BYTES, info=info).derive(seed)


def extended_gcm_seal(seed: bytes, plaintext: bytes, aad: bytes, *, rand_bytes: RandBytes) -> bytes:
    info = rand_bytes(HKDF_INFO_BYTES)
    key = derive_seed_key(seed, info)
    return info + gcm_seal(key, plaintext, aad, nonce=rand_bytes(GCM_NONCE_BYTES))


def extended_gcm_open(seed: bytes, data: bytes, aad: bytes) -> bytes:
    if len(data) < HKDF_INFO_BYTES + GCM_NONCE_BYTES + GCM_TAG_BYTES:
        raise CipherFailure
    key = derive_seed_key(seed, data[:HKDF_INFO_BYTES])
    return gcm_open(key, data[HKDF_INFO_BYTES:], aad)


def secretbox_seal(key: bytes, plaintext: bytes, *, rand_bytes: RandBytes) -> bytes:
    nonce = rand_bytes(SECRETBOX_NONCE_BYTES)
    return bytes(nacl.secret.SecretBox(key).encrypt(plaintext, nonce))


def secretbox_open(key: bytes, data: bytes) -> bytes:
    if len(data) < SECRETBOX_NONCE_BYTES + SECRETBOX_TAG_BYTES:
        raise CipherFailure
    try:
        return nacl.secret.SecretBox(key).decrypt(data)
    except nacl.exceptions.CryptoError:
        raise CipherFailure from None
