"""What every provider shares: the names, the stored prefixes, the read result, the protocol.

A provider owns one prefix (kms-spec 2.0)::

    identity                  (none: plaintext never starts with k8s:enc:)
    aescbc/aesgcm/secretbox   k8s:enc:<type>:v1:            then <key name>: and the payload
    kms v1 / kms v2           k8s:enc:kms:<v1|v2>:<name>:   then the payload

:class:`~sealbox.encryption.chain.ProviderChain` strips that prefix before calling ``read`` and
prepends it after ``write``, the way kube-apiserver's ``prefixTransformers`` do.
:func:`classify_value` reads the provider and key name back from a stored value's prefix alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from sealbox.storage import ENCRYPTED_PREFIX

__all__ = [
    "PROVIDER_NAMES",
    "Provider",
    "ProviderName",
    "ProviderRejected",
    "ReadResult",
    "classify_value",
    "provider_prefix",
]

ProviderName = Literal["identity", "aescbc", "aesgcm", "secretbox", "kms-v1", "kms-v2"]
PROVIDER_NAMES: tuple[ProviderName, ...] = (
    "identity",
    "aescbc",
    "aesgcm",
    "secretbox",
    "kms-v1",
    "kms-v2",
)


_PREFIX_PARTS: dict[ProviderName, tuple[bytes, bytes]] = {
    "aescbc": (b"aescbc", b"v1"),
    "aesgcm": (b"aesgcm", b"v1"),
    "secretbox": (b"secretbox", b"v1"),
    "kms-v1": (b"kms", b"v1"),
    "kms-v2": (b"kms", b"v2"),
}
_PROVIDER_BY_PARTS = {parts: provider for provider, parts in _PREFIX_PARTS.items()}
_HEAD_BYTES = 512  # a prefix is ASCII and short; never split a whole (up to 1 MiB) value


def provider_prefix(provider: ProviderName, kms_name: str = "") -> bytes:
    """The stored prefix of ``provider``; a kms provider's includes its ``kms_name``."""
    if provider == "identity":
        return b""
    kind, version = _PREFIX_PARTS[provider]
    head = ENCRYPTED_PREFIX + kind + b":" + version + b":"
    return head + kms_name.encode() + b":" if kind == b"kms" else head


def classify_value(value: bytes) -> tuple[ProviderName | Literal["unknown"], str]:
    """``(provider, key name)`` from a stored value's prefix alone; ``identity`` for plaintext.

    An unrecognised ``k8s:enc:`` prefix is ``unknown``; the key name is the static key's or the
    KMS provider's name (empty for identity).
    """
    if not value.startswith(ENCRYPTED_PREFIX):
        return "identity", ""
    parts = value[:_HEAD_BYTES].split(b":", 5)
    if len(parts) < 6:
        return "unknown", ""
    provider = _PROVIDER_BY_PARTS.get((parts[2], parts[3]))
    key_name = parts[4].decode("utf-8", errors="replace")
    return ("unknown", key_name) if provider is None else (provider, key_name)


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
