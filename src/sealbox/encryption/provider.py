"""What every provider shares: the names, the read result, and the provider protocol.

A provider owns one prefix (``k8s:enc:aesgcm:v1:``, ``k8s:enc:kms:v2:<name>:`` or nothing for
identity). :class:`~sealbox.encryption.chain.ProviderChain` strips that prefix before calling
``read`` and prepends it after ``write``, the way kube-apiserver's ``prefixTransformers`` do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

__all__ = ["PROVIDER_NAMES", "Provider", "ProviderName", "ProviderRejected", "ReadResult"]

ProviderName = Literal["identity", "aescbc", "aesgcm", "secretbox", "kms-v1", "kms-v2"]
PROVIDER_NAMES: tuple[ProviderName, ...] = (
    "identity",
    "aescbc",
    "aesgcm",
    "secretbox",
    "kms-v1",
    "kms-v2",
)


@dataclass(frozen=True, slots=True)
class ReadResult:
    """A value read back from storage.

    ``key_name`` is the static key's name (aescbc, aesgcm, secretbox), the kms provider's name
    (kms-v1, kms-v2) or empty (identity). ``stale`` means the value was not written by the
    current first provider and key, so a rewrite would change it (kms-spec 1.5, 2.6.8).
    """

    data: bytes = field(repr=False)
    provider: ProviderName
    key_name: str
    stale: bool
    key_id: str | None = None

    def __repr__(self) -> str:
        return (
            f"ReadResult(provider={self.provider!r}, key_name={self.key_name!r}, "
            f"stale={self.stale!r}, key_id={self.key_id!r}, data=<{len(self.data)} bytes>)"
        )


class ProviderRejected(Exception):
    """This provider could not read the value; the chain goes on to the next one.

    ``reason`` is short and safe to show: it never contains data or key material.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Provider(Protocol):
    """One element of a provider chain."""

    @property
    def name(self) -> ProviderName: ...

    @property
    def label(self) -> str:
        """Human name for messages, e.g. ``aesgcm`` or ``kms-v2 (prod-kms)``."""
        ...

    @property
    def prefix(self) -> bytes: ...

    def read(self, etcd_key: bytes, payload: bytes) -> ReadResult:
        """Decrypt ``payload`` (the value minus ``prefix``).

        Raises:
            ProviderRejected: this provider cannot read it; the next one may.
            BackendUnavailable: the KMS plugin behind this provider did not answer.
        """
        ...

    def write(self, etcd_key: bytes, data: bytes) -> bytes:
        """Encrypt ``data`` and return the payload that follows ``prefix``.

        Raises:
            EncryptError: the value cannot be written (e.g. KMS plugin unhealthy).
            BackendUnavailable: the KMS plugin behind this provider did not answer.
        """
        ...
