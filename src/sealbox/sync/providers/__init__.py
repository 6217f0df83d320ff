"""External secret stores the sync controller reads (the edge of :mod:`sealbox.sync`).

The contract every provider keeps is in :mod:`.base` (read it before adding one);
:func:`open_provider` picks the module a store's ``spec.provider`` names and imports only that
one, so each client library (httpx2 for OpenBao/Vault, boto3 for AWS, lightkube for
Kubernetes) is loaded only when a store uses it. Each provider module's store settings are
checked beside it (:mod:`.vault_settings`, :mod:`.awssm_settings`, :mod:`.kubernetes_settings`;
AWS's error mapping in :mod:`.awssm_errors`; OpenBao's login and token in :mod:`.vault_auth`,
its HTTP channel in :mod:`.vault_channel`).
"""

from __future__ import annotations

from sealbox.sync.providers.base import (
    OpenProvider,
    Provider,
    RemoteRef,
    RemoteValue,
    SecretKeyRef,
    StoreContext,
)
from sealbox.sync.providers.registry import PROVIDER_MODULES, open_provider, provider_module

__all__ = [
    "PROVIDER_MODULES",
    "OpenProvider",
    "Provider",
    "RemoteRef",
    "RemoteValue",
    "SecretKeyRef",
    "StoreContext",
    "open_provider",
    "provider_module",
]
