"""The KMS plugin API's messages and services, as both ends see them, with no transport.

kube-apiserver (and Sealbox's offline tools) call a plugin through :class:`KMSv2Service` (or the
deprecated :class:`KMSv1Service`), opened by a :class:`KMSConnector` for one ``kms`` provider
block; the plugin answers from its key backends. Both ends pass the same two shapes:

* :class:`Wrapped`: what Encrypt returns (and a key backend's wrap): ciphertext, key_id,
  annotations (``EncryptResponse`` in ``k8s.io/kms/apis/v2``);
* :class:`PluginStatus`: what Status returns (``StatusResponse``).

The names differ from the generated protobuf classes on purpose: these are plain values, the
protobuf messages live only where gRPC is spoken (:mod:`sealbox.kms.client`, the plugin's
servicers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

__all__ = [
    "KMSConnector",
    "KMSv1Service",
    "KMSv2Service",
    "PluginAddress",
    "PluginStatus",
    "Wrapped",
]


@dataclass(frozen=True, slots=True)
class Wrapped:
    """A wrapped secret, the key_id that wrapped it, and annotations to store beside it."""

    ciphertext: bytes = field(repr=False)
    key_id: str
    annotations: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PluginStatus:
    """A Status answer: API ``version`` (``v2``), ``healthz`` (``ok`` when healthy), ``key_id``."""

    version: str
    healthz: str
    key_id: str


class KMSv2Service(Protocol):
    """``v2.KeyManagementService`` seen from kube-apiserver's side."""

    def status(self) -> PluginStatus: ...

    def encrypt(self, plaintext: bytes, *, uid: str) -> Wrapped: ...

    def decrypt(
        self, ciphertext: bytes, *, uid: str, key_id: str, annotations: Mapping[str, bytes]
    ) -> bytes: ...


class KMSv1Service(Protocol):
    """``v1beta1.KeyManagementService`` (deprecated) seen from kube-apiserver's side."""

    def encrypt(self, plaintext: bytes) -> bytes: ...

    def decrypt(self, ciphertext: bytes) -> bytes: ...


class PluginAddress(Protocol):
    """Where a plugin listens and how long a call may take: what a ``kms`` provider block says."""

    @property
    def name(self) -> str: ...

    @property
    def endpoint(self) -> str: ...

    @property
    def timeout_seconds(self) -> float: ...


class KMSConnector(Protocol):
    """Opens a service for a ``kms`` provider block; called lazily, on first use."""

    def v2(self, plugin: PluginAddress) -> KMSv2Service: ...

    def v1(self, plugin: PluginAddress) -> KMSv1Service: ...
