"""KMS envelope providers: ``kms`` apiVersion v2 (current) and v1 (deprecated, read mostly).

KMS v2 (kms-spec 2.6)::

    k8s:enc:kms:v2:<name>: ‖ EncryptedObject   (see encrypted_object.py)
    type 1 (written):  encryptedData = info(32) ‖ nonce(12) ‖ GCM(HKDF-Expand(seed, info)) ‖ tag
    type 0 (1.27 era): encryptedData = nonce(12) ‖ GCM(DEK) ‖ tag
    AAD = the full etcd key.

KMS v1 (kms-spec 2.5)::

    k8s:enc:kms:v1:<name>: ‖ uint16be(len(encDEK)) ‖ encDEK ‖ nonce(12) ‖ GCM(DEK) ‖ tag
    (values from apiservers ≤1.24 may hold IV ‖ CBC instead of GCM: readable, marked stale)

The plugin is reached through the :mod:`sealbox.kms` service protocols, opened lazily, so a
config listing an unreachable plugin still reads values that other providers wrote.
"""

from __future__ import annotations

import os
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sealbox.encryption import _ciphers
from sealbox.encryption._lru import LRUCache
from sealbox.encryption.encrypted_object import (
    DEKSourceType,
    EncryptedObject,
    cache_key,
    parse_encrypted_object,
)
from sealbox.encryption.model import KMSConfiguration
from sealbox.encryption.provider import (
    ProviderName,
    ProviderRejected,
    ReadResult,
    provider_prefix,
)
from sealbox.errors import DecryptError, EncryptError, KMSPluginError
from sealbox.kms import (
    MAX_CIPHERTEXT_BYTES,
    InvalidField,
    KMSv1Service,
    KMSv2Service,
    PluginStatus,
    validate_annotations,
    validate_key_id,
)

__all__ = ["SEED_BYTES", "STATUS_REFRESH_SECONDS", "KMSv1Provider", "KMSv2Provider"]

SEED_BYTES = 32
# How long a Status answer (and the write seed bound to its key_id) is trusted before asking
# again; the apiserver polls every 60 s.
STATUS_REFRESH_SECONDS = 60.0
DEK_CACHE_ENTRIES = 10_000
_AES_KEY_SIZES = (16, 24, 32)
_STATUS_VERSIONS = ("v2", "v2beta1")
S = TypeVar("S")  # the service protocol: KMSv2Service or KMSv1Service


@dataclass(frozen=True, slots=True)
class _WriteState:
    key_id: str
    seed: bytes = field(repr=False)
    record_template: EncryptedObject
    checked_at: float


class _Envelope(Generic[S]):
    """What both envelope providers hold: their config, prefix, the plugin service, and a cache
    of the DEKs (or seeds) the plugin unwrapped, keyed as the apiserver keys its cache.

    The service is opened on first use, so a config listing an unreachable plugin still reads
    values that other providers wrote.
    """

    name: ProviderName

    def __init__(
        self,
        config: KMSConfiguration,
        connect: Callable[[], S],
        *,
        rand_bytes: _ciphers.RandBytes = os.urandom,
    ) -> None:
        self.config = config
        self.label = f"{self.name} ({config.name})"
        self.prefix = provider_prefix(self.name, config.name)
        self._connect: Callable[[], S] = connect
        self._opened: S | None = None
        self._rand_bytes = rand_bytes
        self._unwrapped: LRUCache[bytes, bytes] = LRUCache(self._cache_entries())

    def _cache_entries(self) -> int:
        return DEK_CACHE_ENTRIES

    def _service(self) -> S:
        if self._opened is None:
            self._opened = self._connect()
        return self._opened


class KMSv2Provider(_Envelope[KMSv2Service]):
    """Reads both DEK source types; writes seed mode (``HKDF_SHA256_XNONCE_AES_GCM_SEED``)."""

    name: ProviderName = "kms-v2"

    def __init__(
        self,
        config: KMSConfiguration,
        connect: Callable[[], KMSv2Service],
        *,
        rand_bytes: _ciphers.RandBytes = os.urandom,
        new_uid: Callable[[], str] = lambda: str(uuid.uuid4()),
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(config, connect, rand_bytes=rand_bytes)
        self._new_uid = new_uid
        self._now = now
        self._lock = threading.Lock()
        self._last_unwrapped: tuple[bytes, EncryptedObject, bytes] | None = None
        self._state: _WriteState | None = None
        self._status_key_id: tuple[str, float] | None = None

    def read(self, etcd_key: bytes, payload: bytes) -> ReadResult:
        try:
            record = parse_encrypted_object(payload)
        except InvalidField as exc:
            raise ProviderRejected(f"{self.label}: {exc}") from None
        secret = self._unwrap(record)
        open_: Callable[[bytes, bytes, bytes], bytes]
        if record.dek_source_type is DEKSourceType.HKDF_SHA256_XNONCE_AES_GCM_SEED:
            open_ = _ciphers.extended_gcm_open
        else:
            open_ = _ciphers.gcm_open
            if len(secret) not in _AES_KEY_SIZES:
                raise ProviderRejected(f"{self.label}: the plugin returned a DEK of invalid size")
        try:
            data = open_(secret, record.encrypted_data, etcd_key)
        except _ciphers.CipherFailure:
            raise ProviderRejected(f"{self.label}: decryption failed") from None
        stale = (
            record.dek_source_type is not DEKSourceType.HKDF_SHA256_XNONCE_AES_GCM_SEED
            or record.key_id != self.current_key_id()
        )
        return ReadResult(
            data=data,
            provider="kms-v2",
            key_name=self.config.name,
            stale=stale,
            key_id=record.key_id,
        )

    def write(self, etcd_key: bytes, data: bytes) -> bytes:
        state = self._write_state()
        encrypted = _ciphers.extended_gcm_seal(
            state.seed, data, etcd_key, rand_bytes=self._rand_bytes
        )
        template = state.record_template
        record = EncryptedObject(
            encrypted_data=encrypted,
            key_id=template.key_id,
            encrypted_dek_source=template.encrypted_dek_source,
            annotations=template.annotations,
            dek_source_type=DEKSourceType.HKDF_SHA256_XNONCE_AES_GCM_SEED,
        )
        return record.serialize()

    def current_key_id(self) -> str:
        """The plugin's current key_id from Status, refreshed every ``STATUS_REFRESH_SECONDS``."""
        with self._lock:
            cached = self._status_key_id
            if cached is not None and self._now() - cached[1] < STATUS_REFRESH_SECONDS:
                return cached[0]
        return self._fetch_status().key_id

    def _fetch_status(self) -> PluginStatus:
        status = self._service().status()
        if status.version not in _STATUS_VERSIONS:
            raise KMSPluginError(
                f"{self.label}: plugin reports version {status.version[:32]!r}, expected v2"
            )
        try:
            validate_key_id(status.key_id)
        except InvalidField as exc:
            raise KMSPluginError(f"{self.label}: plugin Status returned an invalid {exc}") from None
        with self._lock:
            self._status_key_id = (status.key_id, self._now())
        return status

    def _unwrap(self, record: EncryptedObject) -> bytes:
        # Values written in a row share one DEK source: compare with the last one before
        # hashing the apiserver's cache key (equal fields give an equal key).
        last = self._last_unwrapped
        if last is not None and last[0] == record.encrypted_dek_source:
            previous = last[1]
            if (
                previous.key_id == record.key_id
                and previous.dek_source_type is record.dek_source_type
                and previous.annotations == record.annotations
            ):
                return last[2]
        key = cache_key(record)
        secret = self._unwrapped.get(key)
        if secret is not None:
            self._last_unwrapped = (record.encrypted_dek_source, record, secret)
            return secret
        try:
            secret = self._service().decrypt(
                record.encrypted_dek_source,
                uid=self._new_uid(),
                key_id=record.key_id,
                annotations=record.annotations,
            )
        except DecryptError as exc:
            raise ProviderRejected(f"{self.label}: {exc}") from None
        self._unwrapped.put(key, secret)
        self._last_unwrapped = (record.encrypted_dek_source, record, secret)
        return secret

    def _write_state(self) -> _WriteState:
        with self._lock:
            state = self._state
            if state is not None and self._now() - state.checked_at < STATUS_REFRESH_SECONDS:
                return state
        status = self._fetch_status()
        if status.healthz != "ok":
            raise EncryptError(
                f"{self.label}: plugin is not healthy (healthz={status.healthz[:200]!r}); "
                "refusing to write"
            )
        key_id = status.key_id
        with self._lock:
            if self._state is not None and self._state.key_id == key_id:
                self._state = _WriteState(
                    key_id, self._state.seed, self._state.record_template, self._now()
                )
                return self._state
        return self._rotate(key_id)

    def _rotate(self, key_id: str) -> _WriteState:
        # rotateDEKOnKeyIDChange: a fresh seed, wrapped by the plugin; the key_id of the answer
        # must equal the Status key_id or the new seed is not used.
        seed = self._rand_bytes(SEED_BYTES)
        response = self._service().encrypt(seed, uid=self._new_uid())
        if response.key_id != key_id:
            raise KMSPluginError(
                f"{self.label}: plugin Encrypt returned key_id {response.key_id[:64]!r}, "
                f"but Status reports {key_id[:64]!r}"
            )
        if not 0 < len(response.ciphertext) <= MAX_CIPHERTEXT_BYTES:
            raise KMSPluginError(
                f"{self.label}: plugin ciphertext is {len(response.ciphertext)} bytes, "
                f"expected 1..{MAX_CIPHERTEXT_BYTES}"
            )
        try:
            validate_annotations(response.annotations)
        except InvalidField as exc:
            raise KMSPluginError(f"{self.label}: plugin Encrypt response: {exc}") from None
        template = EncryptedObject(
            encrypted_data=b"\x00",
            key_id=key_id,
            encrypted_dek_source=response.ciphertext,
            annotations=dict(response.annotations),
        )
        state = _WriteState(key_id, seed, template, self._now())
        self._unwrapped.put(cache_key(template), seed)
        with self._lock:
            self._state = state
        return state


class KMSv1Provider(_Envelope[KMSv1Service]):
    """Deprecated envelope scheme: one plugin Encrypt per write, an LRU of unwrapped DEKs."""

    name: ProviderName = "kms-v1"

    def _cache_entries(self) -> int:
        return self.config.cachesize if self.config.cachesize is not None else 1000

    def read(self, etcd_key: bytes, payload: bytes) -> ReadResult:
        if len(payload) < 2:
            raise ProviderRejected(f"{self.label}: missing key length")
        (dek_length,) = struct.unpack(">H", payload[:2])
        if dek_length + 2 > len(payload):
            raise ProviderRejected(f"{self.label}: key length longer than available bytes")
        encrypted_dek = payload[2 : 2 + dek_length]
        body = payload[2 + dek_length :]
        dek = self._unwrap(encrypted_dek)
        try:
            data, stale = _ciphers.gcm_open(dek, body, etcd_key), False
        except _ciphers.CipherFailure:
            try:
                data, stale = _ciphers.cbc_decrypt(dek, body), True
            except _ciphers.CipherFailure:
                raise ProviderRejected(f"{self.label}: decryption failed") from None
        return ReadResult(data=data, provider="kms-v1", key_name=self.config.name, stale=stale)

    def write(self, etcd_key: bytes, data: bytes) -> bytes:
        dek = self._rand_bytes(SEED_BYTES)
        encrypted_dek = self._service().encrypt(dek)
        if not 0 < len(encrypted_dek) <= 0xFFFF:
            raise KMSPluginError(
                f"{self.label}: plugin ciphertext is {len(encrypted_dek)} bytes, expected 1..65535"
            )
        self._unwrapped.put(encrypted_dek, dek)
        sealed = _ciphers.gcm_seal(
            dek, data, etcd_key, nonce=self._rand_bytes(_ciphers.GCM_NONCE_BYTES)
        )
        return struct.pack(">H", len(encrypted_dek)) + encrypted_dek + sealed

    def _unwrap(self, encrypted_dek: bytes) -> bytes:
        dek = self._unwrapped.get(encrypted_dek)
        if dek is None:
            try:
                dek = self._service().decrypt(encrypted_dek)
            except DecryptError as exc:
                raise ProviderRejected(f"{self.label}: {exc}") from None
            if len(dek) not in _AES_KEY_SIZES:
                raise ProviderRejected(f"{self.label}: the plugin returned a DEK of invalid size")
            self._unwrapped.put(encrypted_dek, dek)
        return dek
