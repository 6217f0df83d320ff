"""From an EncryptionConfiguration to what the apiserver would do for any etcd key.

``StorageTransformers(config, connector).read(key, value)`` and ``.write(key, data)`` are the
recipes the offline tools use. The group-resource is taken from the etcd key and its chain found
as the apiserver finds it: the rule that matches first (exact, ``*.<group>``, ``*.*``), with the
providers of every entry listing that rule appended in file order; with no rule, identity. Each
provider is built once, so a KMS plugin is dialled once and its DEK cache serves every resource
it covers.
"""

from __future__ import annotations

import os

from sealbox.encryption import _ciphers, resources
from sealbox.encryption.chain import ProviderChain
from sealbox.encryption.envelope import KMSv1Provider, KMSv2Provider
from sealbox.encryption.model import (
    EncryptionConfiguration,
    KMSConfiguration,
    ProviderConfiguration,
)
from sealbox.encryption.provider import Provider, ReadResult
from sealbox.encryption.static import IdentityProvider, StaticKey, aescbc, aesgcm, secretbox
from sealbox.kms import KMSConnector
from sealbox.storage import KeyResolver

__all__ = ["StorageTransformers", "build_provider"]

_DEFAULT_CHAIN = ProviderChain([IdentityProvider()])


class StorageTransformers:
    """Per-resource provider chains for one config, built lazily and shared."""

    def __init__(
        self,
        config: EncryptionConfiguration,
        connector: KMSConnector,
        *,
        etcd_prefix: str = "/registry",
        rand_bytes: _ciphers.RandBytes = os.urandom,
    ) -> None:
        self.config = config
        self.etcd_prefix = etcd_prefix
        self._connector = connector
        self._rand_bytes = rand_bytes
        self._chains: dict[str, ProviderChain] = {}
        self._providers: dict[str, Provider] = {}
        self._resolve = KeyResolver(etcd_prefix)

    def chain_for(self, group_resource: str) -> ProviderChain:
        """The chain the apiserver uses for ``group_resource`` (identity when none matches)."""
        chain = self._chains.get(group_resource)
        if chain is None:
            configured = resources.provider_chain(self.config, group_resource)
            if configured:
                chain = ProviderChain([self._provider(p) for p in configured])
            else:
                chain = _DEFAULT_CHAIN
            self._chains[group_resource] = chain
        return chain

    def chain_for_key(self, etcd_key: str) -> ProviderChain:
        return self.chain_for(self._resolve(etcd_key)[0])

    def read(self, etcd_key: str, value: bytes) -> ReadResult:
        """Decrypt a stored value as the apiserver would (see :meth:`ProviderChain.read`)."""
        return self.chain_for_key(etcd_key).read(etcd_key, value)

    def write(self, etcd_key: str, data: bytes) -> bytes:
        """Encrypt ``data`` with the first provider of the key's entry."""
        return self.chain_for_key(etcd_key).write(etcd_key, data)

    def _provider(self, config: ProviderConfiguration) -> Provider:
        provider = self._providers.get(config.path)
        if provider is None:
            provider = build_provider(config, self._connector, rand_bytes=self._rand_bytes)
            self._providers[config.path] = provider
        return provider


def build_provider(
    config: ProviderConfiguration,
    connector: KMSConnector,
    *,
    rand_bytes: _ciphers.RandBytes = os.urandom,
) -> Provider:
    """One provider from its (validated) config block."""
    if config.type == "identity":
        return IdentityProvider()
    if config.type == "kms":
        assert config.kms is not None
        return _kms_provider(config.kms, connector, rand_bytes)
    static_keys = [StaticKey.from_config(key) for key in config.keys]
    factory = {"aescbc": aescbc, "aesgcm": aesgcm, "secretbox": secretbox}[config.type]
    return factory(static_keys, rand_bytes=rand_bytes)


def _kms_provider(
    kms: KMSConfiguration, connector: KMSConnector, rand_bytes: _ciphers.RandBytes
) -> Provider:
    if kms.api_version == "v2":
        return KMSv2Provider(kms, lambda: connector.v2(kms), rand_bytes=rand_bytes)
    return KMSv1Provider(kms, lambda: connector.v1(kms), rand_bytes=rand_bytes)
