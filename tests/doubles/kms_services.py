"""In-process KMS services for unit tests (the gRPC path is tested against real sockets)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from sealbox.errors import BackendUnavailable, DecryptError
from sealbox.kms import PluginAddress, PluginStatus, Wrapped
from tests.doubles.aead import UnwrapFailed, gcm_open, gcm_seal


@dataclass
class FakeKMSv2:
    """AES-GCM wrap under ``keks[key_id]``; ``key_id`` picks the current one."""

    keks: dict[str, bytes] = field(default_factory=lambda: {"kek-1": os.urandom(32)})
    key_id: str = "kek-1"
    healthz: str = "ok"
    version: str = "v2"
    annotations: dict[str, bytes] = field(default_factory=lambda: {"fake.kms.example.io": b"1"})
    down: bool = False
    encrypt_key_id: str | None = None
    calls: dict[str, int] = field(default_factory=dict)

    def _count(self, name: str) -> None:
        if self.down:
            raise BackendUnavailable("fake KMS plugin is down")
        self.calls[name] = self.calls.get(name, 0) + 1

    def status(self) -> PluginStatus:
        self._count("Status")
        return PluginStatus(version=self.version, healthz=self.healthz, key_id=self.key_id)

    def encrypt(self, plaintext: bytes, *, uid: str) -> Wrapped:
        self._count("Encrypt")
        assert uid
        ciphertext = gcm_seal(self.keks[self.key_id], plaintext, self.key_id.encode())
        return Wrapped(
            ciphertext=ciphertext,
            key_id=self.encrypt_key_id or self.key_id,
            annotations=dict(self.annotations),
        )

    def decrypt(
        self, ciphertext: bytes, *, uid: str, key_id: str, annotations: Mapping[str, bytes]
    ) -> bytes:
        self._count("Decrypt")
        assert uid
        kek = self.keks.get(key_id)
        if kek is None:
            raise DecryptError("fake KMS: unknown key_id")
        try:
            return gcm_open(kek, ciphertext, key_id.encode())
        except UnwrapFailed:
            raise DecryptError("fake KMS: ciphertext does not unwrap") from None


@dataclass
class FakeKMSv1:
    kek: bytes = field(default_factory=lambda: os.urandom(32))
    calls: dict[str, int] = field(default_factory=dict)

    def encrypt(self, plaintext: bytes) -> bytes:
        self.calls["Encrypt"] = self.calls.get("Encrypt", 0) + 1
        return gcm_seal(self.kek, plaintext, b"")

    def decrypt(self, ciphertext: bytes) -> bytes:
        self.calls["Decrypt"] = self.calls.get("Decrypt", 0) + 1
        try:
            return gcm_open(self.kek, ciphertext, b"")
        except UnwrapFailed:
            raise DecryptError("fake KMS v1: ciphertext does not unwrap") from None


@dataclass
class FakeConnector:
    """Hands out one fake per provider name, creating it on first use."""

    v2_services: dict[str, FakeKMSv2] = field(default_factory=dict)
    v1_services: dict[str, FakeKMSv1] = field(default_factory=dict)

    def v2(self, plugin: PluginAddress) -> FakeKMSv2:
        return self.v2_services.setdefault(plugin.name, FakeKMSv2())

    def v1(self, plugin: PluginAddress) -> FakeKMSv1:
        return self.v1_services.setdefault(plugin.name, FakeKMSv1())
