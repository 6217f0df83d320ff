"""Bytes and names of the ``pkcs11`` backend: KEK ids in the token, key_ids, the ciphertext.

Pure functions, no PKCS#11 calls, so the rules can be read (and tested) on their own.

Every KEK Sealbox creates carries the same ``CKA_LABEL`` (the config's ``keyLabel``) and a
``CKA_ID`` that orders the KEKs and can never repeat, even after a key is deleted and recreated::

    CKA_ID   "SBX" 0x01 ‖ uint32be(generation) ‖ random(16)          24 bytes

The highest ``(generation, random)`` is the current KEK; ``rotate`` creates ``generation + 1``.
Keys with the label but another ``CKA_ID`` (made by other tools) are ignored.

The key_id is an RFC 7512 PKCS#11 URI naming exactly that key object; it holds labels and the
public ``CKA_ID``, never key material::

    pkcs11:token=<tokenLabel>;object=<keyLabel>;id=%53%42%58%01%00%00%00%02%9F...   (pct-encoded)

The wrapped secret (``Wrapped.ciphertext``), encrypted by the token with ``CKM_AES_GCM``::

    +------+-------------+-----------------------------------------+----------+
    | 0x01 | nonce (12)  | AES-256-GCM(plaintext, aad = key_id)    | tag (16) |
    +------+-------------+-----------------------------------------+----------+
     format  random         same length as the plaintext

An unknown format byte or a ciphertext shorter than 1 + 12 + 16 bytes is refused before the
token is asked.
"""

from __future__ import annotations

import functools
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

__all__ = [
    "FORMAT_V1",
    "KEY_ID_SCHEME",
    "NONCE_BYTES",
    "TAG_BYTES",
    "KekId",
    "join_ciphertext",
    "key_id_for",
    "key_id_prefix",
    "parse_key_id",
    "split_ciphertext",
]

FORMAT_V1 = 0x01
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_ID_SCHEME = "pkcs11:"
_ID_MAGIC = b"SBX\x01"
_ID_RANDOM_BYTES = 16
_ID_BYTES = len(_ID_MAGIC) + 4 + _ID_RANDOM_BYTES
_MAX_GENERATION = 0xFFFFFFFF


@dataclass(frozen=True, slots=True, order=True)
class KekId:
    """What a Sealbox KEK stores in ``CKA_ID``: its generation and a random tag."""

    generation: int
    tag: bytes

    @classmethod
    def new(cls, generation: int, *, rand_bytes: Callable[[int], bytes] = os.urandom) -> KekId:
        if not 1 <= generation <= _MAX_GENERATION:
            raise ValueError(f"generation must be in 1..{_MAX_GENERATION}")
        return cls(generation, rand_bytes(_ID_RANDOM_BYTES))

    @classmethod
    def parse(cls, cka_id: bytes) -> KekId | None:
        """The KekId in a ``CKA_ID`` value, or None if Sealbox did not make it."""
        if len(cka_id) != _ID_BYTES or not cka_id.startswith(_ID_MAGIC):
            return None
        (generation,) = struct.unpack(">I", cka_id[len(_ID_MAGIC) : len(_ID_MAGIC) + 4])
        if generation == 0:
            return None
        return cls(generation, cka_id[len(_ID_MAGIC) + 4 :])

    def cka_id(self) -> bytes:
        return _ID_MAGIC + struct.pack(">I", self.generation) + self.tag


def key_id_prefix(token_label: str, key_label: str) -> str:
    """Everything of a key_id before the ``id`` value: names the token and the label."""
    return f"{KEY_ID_SCHEME}token={_pct(token_label)};object={_pct(key_label)};id="


def key_id_for(token_label: str, key_label: str, kek: KekId) -> str:
    return key_id_prefix(token_label, key_label) + "".join(f"%{b:02X}" for b in kek.cka_id())


@functools.lru_cache(maxsize=1024)
def parse_key_id(key_id: str, prefix: str) -> KekId | None:
    """The KEK a key_id names, if it starts with ``prefix`` and is in canonical form.

    Memoized: every Decrypt asks twice (routing and unwrap) for one of a handful of key_ids.
    """
    if not key_id.startswith(prefix):
        return None
    encoded = key_id[len(prefix) :]
    if len(encoded) != 3 * _ID_BYTES or encoded.count("%") != _ID_BYTES:
        return None
    kek = KekId.parse(unquote_to_bytes(encoded))
    if kek is None or "".join(f"%{b:02X}" for b in kek.cka_id()) != encoded:
        return None
    return kek


def join_ciphertext(nonce: bytes, sealed: bytes) -> bytes:
    return bytes([FORMAT_V1]) + nonce + sealed


def split_ciphertext(ciphertext: bytes) -> tuple[bytes, bytes]:
    """``(nonce, GCM output with tag)``.

    Raises:
        ValueError: not in format 0x01 (the message names the problem, never the bytes).
    """
    if not ciphertext:
        raise ValueError("the ciphertext is empty")
    if ciphertext[0] != FORMAT_V1:
        raise ValueError(f"unknown ciphertext format 0x{ciphertext[0]:02x} (expected 0x01)")
    if len(ciphertext) < 1 + NONCE_BYTES + TAG_BYTES:
        raise ValueError(f"the ciphertext is too short ({len(ciphertext)} bytes)")
    return ciphertext[1 : 1 + NONCE_BYTES], ciphertext[1 + NONCE_BYTES :]


def _pct(label: str) -> str:
    # RFC 7512 path attribute values: everything outside the unreserved set is %-encoded.
    return quote(label, safe="")
