"""A provider chain: how kube-apiserver reads and writes one resource (``prefixTransformers``).

Write: the first provider, its prefix prepended. Read: every provider whose prefix is a byte
prefix of the value, in config order; a provider that cannot read the value does not stop the
walk (two aescbc entries share a prefix, identity matches everything). A read by any provider
but the first is stale (kms-spec 1.5).
"""

from __future__ import annotations

from collections.abc import Sequence

from sealbox.encryption.provider import Provider, ProviderRejected, ReadResult
from sealbox.errors import DecryptError
from sealbox.storage import ENCRYPTED_PREFIX

__all__ = ["ProviderChain"]


class ProviderChain:
    """An ordered, non-empty list of providers for one group-resource."""

    def __init__(self, providers: Sequence[Provider]) -> None:
        if not providers:
            raise ValueError("a provider chain needs at least one provider")
        self.providers = tuple(providers)

    @property
    def writer(self) -> Provider:
        return self.providers[0]

    def read(self, etcd_key: str | bytes, value: bytes) -> ReadResult:
        """Decrypt a stored value.

        Raises:
            DecryptError: no provider could read it (the message names the etcd key and lists
                what each matching provider said, never any data).
            BackendUnavailable: a KMS plugin needed for this value did not answer.
        """
        key = _key_bytes(etcd_key)
        reasons: list[str] = []
        for index, provider in enumerate(self.providers):
            if not value.startswith(provider.prefix):
                continue
            try:
                result = provider.read(key, value[len(provider.prefix) :])
            except ProviderRejected as exc:
                reasons.append(exc.reason)
                continue
            if index == 0 or result.stale:
                return result
            return ReadResult(
                data=result.data,
                provider=result.provider,
                key_name=result.key_name,
                stale=True,
                key_id=result.key_id,
            )
        raise DecryptError(_failure_message(key, value, reasons, self.providers))

    def write(self, etcd_key: str | bytes, data: bytes) -> bytes:
        """The exact bytes the apiserver would store for ``data`` under ``etcd_key``."""
        provider = self.writer
        return provider.prefix + provider.write(_key_bytes(etcd_key), data)


def _key_bytes(etcd_key: str | bytes) -> bytes:
    return etcd_key.encode() if isinstance(etcd_key, str) else etcd_key


def _failure_message(
    key: bytes, value: bytes, reasons: list[str], providers: Sequence[Provider]
) -> str:
    where = key.decode(errors="replace")
    if not reasons:
        labels = ", ".join(provider.label for provider in providers)
        hint = _describe_prefix(value)
        return (
            f"{where}: no matching prefix found: the value {hint}, but the configured providers "
            f"are [{labels}]"
        )
    return f"{where}: value could not be decrypted: " + "; ".join(reasons)


def _describe_prefix(value: bytes) -> str:
    if value.startswith(ENCRYPTED_PREFIX):
        # The provider prefix is ASCII and public (e.g. k8s:enc:aesgcm:v1:key1:); show up to the
        # provider name only, never payload bytes.
        parts = value.split(b":", 5)
        shown = b":".join(parts[:5]) if len(parts) > 5 else ENCRYPTED_PREFIX
        return f"starts with {shown.decode('ascii', errors='replace')!r}"
    marker = ENCRYPTED_PREFIX.decode()
    return f"is not encrypted (no {marker} prefix) and identity is not in the chain"
