"""The KMS plugin as the encryption core sees it: two small protocols, no transport.

The gRPC implementations live in :mod:`sealbox.kmsapi.client`; tests can also pass in-process
fakes. Keeping the core free of grpc means it can be imported, fuzzed and reasoned about alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from sealbox.encryption.model import KMSConfiguration

__all__ = [
    "EncryptResponse",
    "KMSConnector",
    "KMSv1Service",
    "KMSv2Service",
    "StatusResponse",
]


@dataclass(frozen=True, slots=True)
class StatusResponse:
    version: str
    healthz: str
    key_id: str


@dataclass(frozen=True, slots=True)
class EncryptResponse:
    ciphertext: bytes = field(repr=False)
    key_id: str
    annotations: Mapping[str, bytes] = field(default_factory=dict)


class KMSv2Service(Protocol):
    """``v2.KeyManagementService`` seen from kube-apiserver's side."""

    def status(self) -> StatusResponse: ...

    def encrypt(self, plaintext: bytes, *, uid: str) -> EncryptResponse: ...

    def decrypt(
        self, ciphertext: bytes, *, uid: str, key_id: str, annotations: Mapping[str, bytes]
    ) -> bytes: ...


class KMSv1Service(Protocol):
    """``v1beta1.KeyManagementService`` (deprecated) seen from kube-apiserver's side."""

    def encrypt(self, plaintext: bytes) -> bytes: ...

    def decrypt(self, ciphertext: bytes) -> bytes: ...


class KMSConnector(Protocol):
    """Opens a service for a ``kms`` provider block; called lazily, on first use."""

    def v2(self, config: KMSConfiguration) -> KMSv2Service: ...

    def v1(self, config: KMSConfiguration) -> KMSv1Service: ...
