"""Encryption at rest exactly as kube-apiserver does it, as plain functions over bytes.

* The EncryptionConfiguration: :func:`load_config`/:func:`parse_config` validate a file with the
  apiserver's own rules (every error names its field path); :func:`lint_config` adds advice.
* Which entry a group-resource uses: :func:`resolve`, :func:`covers`, :class:`GroupResource`.
* The providers (``identity``, ``aescbc``, ``aesgcm``, ``secretbox``, ``kms`` v1 and v2), each
  owning a stored prefix (:func:`provider_prefix`, :func:`classify_value`), chained per resource
  (:class:`ProviderChain`) as the apiserver's ``prefixTransformers`` are.
* :class:`StorageTransformers`: what the apiserver would read or write for any etcd key, the
  recipe the offline tools use. KMS plugins are reached through a :class:`sealbox.kms.KMSConnector`
  the caller passes in, so this package never imports gRPC.
* The KMS v2 stored record: :class:`EncryptedObject`.
* Whether an apiserver runs a given file: :func:`config_hash` (its bytes, as the apiserver hashes
  them) against what :func:`parse_loaded` reads from its ``/metrics``.
"""

from __future__ import annotations

from sealbox.encryption.chain import ProviderChain
from sealbox.encryption.config import (
    ConfigReport,
    lint_config,
    lint_file,
    load_config,
    parse_config,
)
from sealbox.encryption.encrypted_object import (
    EncryptedObject,
    InvalidEncryptedObject,
    parse_encrypted_object,
)
from sealbox.encryption.envelope import KMSv1Provider, KMSv2Provider
from sealbox.encryption.keygen import KeyKind, generate_key, provider_snippet
from sealbox.encryption.loaded import (
    LAST_CONFIG_METRIC,
    RELOAD_TIME_METRIC,
    LoadedConfig,
    config_hash,
    expected_hash,
    parse_loaded,
)
from sealbox.encryption.model import (
    EncryptionConfiguration,
    KMSConfiguration,
    ProviderConfiguration,
)
from sealbox.encryption.provider import Provider, ReadResult, classify_value, provider_prefix
from sealbox.encryption.resources import (
    GroupResource,
    Resolution,
    covers,
    parse_group_resource,
    resolve,
)
from sealbox.encryption.static import IdentityProvider, StaticKey, aescbc, aesgcm, secretbox
from sealbox.encryption.transformers import StorageTransformers

__all__ = [
    "LAST_CONFIG_METRIC",
    "RELOAD_TIME_METRIC",
    "ConfigReport",
    "EncryptedObject",
    "EncryptionConfiguration",
    "GroupResource",
    "IdentityProvider",
    "InvalidEncryptedObject",
    "KMSConfiguration",
    "KMSv1Provider",
    "KMSv2Provider",
    "KeyKind",
    "LoadedConfig",
    "Provider",
    "ProviderChain",
    "ProviderConfiguration",
    "ReadResult",
    "Resolution",
    "StaticKey",
    "StorageTransformers",
    "aescbc",
    "aesgcm",
    "classify_value",
    "config_hash",
    "covers",
    "expected_hash",
    "generate_key",
    "lint_config",
    "lint_file",
    "load_config",
    "parse_config",
    "parse_encrypted_object",
    "parse_group_resource",
    "parse_loaded",
    "provider_prefix",
    "provider_snippet",
    "resolve",
    "secretbox",
]
