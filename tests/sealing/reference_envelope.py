"""An independent reader and writer of the Sealbox envelope, from its documented layout only.

Key ids are SHA-256 over a DER SubjectPublicKeyInfo built here by hand (not by pyca's
serializer), RSA-OAEP is :mod:`.reference`'s arithmetic, and AES-GCM is the streaming ``Cipher``
API with the header as associated data. Nothing here imports ``sealbox``.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tests.sealing.reference import ReferenceUnsealError, oaep_decrypt, oaep_encrypt

MAGIC = b"SBX\x01"


def _der_length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    body = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_length(len(body)) + body


def _der_integer(value: int) -> bytes:
    body = value.to_bytes(value.bit_length() // 8 + 1, "big")  # a leading 0 keeps it positive
    return _der(0x02, body)


def key_id(public: rsa.RSAPublicNumbers) -> bytes:
    """SHA-256 of SubjectPublicKeyInfo{rsaEncryption, NULL; BIT STRING RSAPublicKey{n, e}}."""
    algorithm = _der(0x30, bytes.fromhex("06092a864886f70d010101") + b"\x05\x00")
    rsa_key = _der(0x30, _der_integer(public.n) + _der_integer(public.e))
    spki = _der(0x30, algorithm + _der(0x03, b"\x00" + rsa_key))
    return hashlib.sha256(spki).digest()


def seal(recipients: list[rsa.RSAPublicKey], plaintext: bytes, label: bytes) -> bytes:
    session_key = os.urandom(32)
    header = MAGIC + bytes([len(recipients)])
    for key in recipients:
        numbers = key.public_numbers()
        wrapped = oaep_encrypt(numbers, session_key, label)
        header += key_id(numbers) + len(wrapped).to_bytes(2, "big") + wrapped
    encryptor = Cipher(algorithms.AES(session_key), modes.GCM(b"\x00" * 12)).encryptor()
    encryptor.authenticate_additional_data(header)
    body = encryptor.update(plaintext) + encryptor.finalize()
    return header + body + encryptor.tag


def unseal(private_key: rsa.RSAPrivateKey, sealed: bytes, label: bytes) -> bytes:
    if not sealed.startswith(MAGIC):
        raise ReferenceUnsealError("no magic")
    numbers = private_key.private_numbers()
    mine = key_id(numbers.public_numbers)
    offset, wrapped_mine = 5, None
    for _ in range(sealed[4]):
        identifier = sealed[offset : offset + 32]
        size = int.from_bytes(sealed[offset + 32 : offset + 34], "big")
        wrapped = sealed[offset + 34 : offset + 34 + size]
        offset += 34 + size
        if identifier == mine:
            wrapped_mine = wrapped
    if wrapped_mine is None:
        raise ReferenceUnsealError("not a recipient")
    session_key = oaep_decrypt(numbers, wrapped_mine, label)
    header, rest = sealed[:offset], sealed[offset:]
    decryptor = Cipher(algorithms.AES(session_key), modes.GCM(b"\x00" * 12, rest[-16:])).decryptor()
    decryptor.authenticate_additional_data(header)
    try:
        return decryptor.update(rest[:-16]) + decryptor.finalize()
    except Exception as error:
        raise ReferenceUnsealError("GCM tag mismatch") from error
