"""identity, aescbc, aesgcm and secretbox: providers whose keys sit in the config file.

::

    identity    <serialized object>                                  (no prefix)
    aescbc      k8s:enc:aescbc:v1:<key name>:IV(16) ‖ CBC(PKCS#7(data))
    aesgcm      k8s:enc:aesgcm:v1:<key name>:nonce(12) ‖ GCM(data, aad=etcd key) ‖ tag(16)
    secretbox   k8s:enc:secretbox:v1:<key name>:nonce(24) ‖ tag(16) ‖ XSalsa20(data)

Writes use the first key; reads try every key whose ``<name>:`` prefixes the payload, in order,
and a read by any key but the first is stale (kms-spec 1.5).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sealbox.encryption import _ciphers
from sealbox.encryption.model import Key
from sealbox.encryption.provider import ProviderName, ProviderRejected, ReadResult, provider_prefix
from sealbox.storage import ENCRYPTED_PREFIX

__all__ = [
    "IdentityProvider",
    "KeyedProvider",
    "StaticKey",
    "aescbc",
    "aesgcm",
    "secretbox",
]

_Seal = Callable[[bytes, bytes, bytes, _ciphers.RandBytes], bytes]
_Open = Callable[[bytes, bytes, bytes], bytes]


class IdentityProvider:
    """Plaintext. Refuses to "read" anything carrying the ``k8s:enc:`` marker (identity.go)."""

    name: ProviderName = "identity"
    label = "identity"
    prefix = b""

    def read(self, etcd_key: bytes, payload: bytes) -> ReadResult:
        if payload.startswith(ENCRYPTED_PREFIX):
            raise ProviderRejected("identity transformer tried to read encrypted data")
        return ReadResult(data=payload, provider="identity", key_name="", stale=False)

    def write(self, etcd_key: bytes, data: bytes) -> bytes:
        return data


@dataclass(frozen=True, slots=True)
class StaticKey:
    """A key's name and decoded bytes. The bytes never appear in a repr."""

    name: str
    material: bytes = field(repr=False)

    @classmethod
    def from_config(cls, key: Key) -> StaticKey:
        return cls(name=key.name, material=key.material())


class KeyedProvider:
    """A static-key provider: one cipher, a list of named keys, the first one writing."""

    def __init__(
        self,
        name: ProviderName,
        keys: Sequence[StaticKey],
        *,
        seal: _Seal,
        open_: _Open,
        rand_bytes: _ciphers.RandBytes = os.urandom,
    ) -> None:
        if not keys:
            raise ValueError(f"{name} needs at least one key")
        self.name = name
        self.label = name
        self.prefix = provider_prefix(name)
        self._keys = tuple(keys)
        self._seal = seal
        self._open = open_
        self._rand_bytes = rand_bytes

    def read(self, etcd_key: bytes, payload: bytes) -> ReadResult:
        matched = False
        for index, key in enumerate(self._keys):
            key_prefix = key.name.encode() + b":"
            if not payload.startswith(key_prefix):
                continue
            matched = True
            try:
                data = self._open(key.material, payload[len(key_prefix) :], etcd_key)
            except _ciphers.CipherFailure:
                continue
            return ReadResult(data=data, provider=self.name, key_name=key.name, stale=index > 0)
        if matched:
            raise ProviderRejected(f"{self.name}: decryption failed with every matching key")
        raise ProviderRejected(f"{self.name}: no matching key was found (keys: {self._names()})")

    def write(self, etcd_key: bytes, data: bytes) -> bytes:
        key = self._keys[0]
        return key.name.encode() + b":" + self._seal(key.material, data, etcd_key, self._rand_bytes)

    def _names(self) -> str:
        return ", ".join(key.name for key in self._keys)


def _cbc_seal(key: bytes, data: bytes, aad: bytes, rand_bytes: _ciphers.RandBytes) -> bytes:
    return _ciphers.cbc_encrypt(key, data, rand_bytes=rand_bytes)


def _cbc_open(key: bytes, data: bytes, aad: bytes) -> bytes:
    return _ciphers.cbc_decrypt(key, data)


def _gcm_seal(key: bytes, data: bytes, aad: bytes, rand_bytes: _ciphers.RandBytes) -> bytes:
    return _ciphers.gcm_seal(key, data, aad, nonce=rand_bytes(_ciphers.GCM_NONCE_BYTES))


def _secretbox_seal(key: bytes, data: bytes, aad: bytes, rand_bytes: _ciphers.RandBytes) -> bytes:
    return _ciphers.secretbox_seal(key, data, rand_bytes=rand_bytes)


def _secretbox_open(key: bytes, data: bytes, aad: bytes) -> bytes:
    return _ciphers.secretbox_open(key, data)


def aescbc(
    keys: Sequence[StaticKey], *, rand_bytes: _ciphers.RandBytes = os.urandom
) -> KeyedProvider:
    """AES-CBC with PKCS#7 padding; no integrity and no AAD. Read-only by recommendation."""
    return KeyedProvider("aescbc", keys, seal=_cbc_seal, open_=_cbc_open, rand_bytes=rand_bytes)


def aesgcm(
    keys: Sequence[StaticKey], *, rand_bytes: _ciphers.RandBytes = os.urandom
) -> KeyedProvider:
    """AES-GCM with a random 96-bit nonce, bound to the etcd key."""
    return KeyedProvider(
        "aesgcm", keys, seal=_gcm_seal, open_=_ciphers.gcm_open, rand_bytes=rand_bytes
    )


def secretbox(
    keys: Sequence[StaticKey], *, rand_bytes: _ciphers.RandBytes = os.urandom
) -> KeyedProvider:
    """NaCl secretbox (XSalsa20-Poly1305); not bound to the etcd key."""
    return KeyedProvider(
        "secretbox", keys, seal=_secretbox_seal, open_=_secretbox_open, rand_bytes=rand_bytes
    )
