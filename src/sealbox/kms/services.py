"""The KMS plugin API's services as kube-apiserver calls them, with no transport.

A :class:`KMSConnector` opens a :class:`KMSv2Service` (or the deprecated :class:`KMSv1Service`)
for one ``kms`` provider block, described by its :class:`PluginAddress`. The encryption core
takes a connector; :mod:`sealbox.kms.client` implements one over gRPC, and tests pass fakes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from sealbox.kms.messages import PluginStatus, Wrapped

__all__ = ["KMSConnector", "KMSv1Service", "KMSv2Service", "PluginAddress"]


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
