"""A store the controller has opened: its identity, its checked spec and its provider client.

:class:`~sealbox.controllers.sync.store_registry.StoreRegistry` makes them (one per
SecretStore, one per ClusterSecretStore and ExternalSecret namespace, since a ClusterSecretStore's
credentials may come from the ExternalSecret's namespace); the reader and the reconciler use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sealbox.sync import StoreKind, StoreSpec
from sealbox.sync.providers import Provider

__all__ = ["OpenStore", "store_key"]


def store_key(kind: StoreKind, namespace: str | None, name: str, es_namespace: str) -> str:
    """The registry's key: ``SecretStore/<ns>/<name>`` or ``ClusterSecretStore/<name>@<es ns>``."""
    if kind is StoreKind.CLUSTER_SECRET_STORE:
        return f"{kind.value}/{name}@{es_namespace}"
    return f"{kind.value}/{namespace}/{name}"


@dataclass(frozen=True, slots=True)
class OpenStore:
    """One opened store. ``key`` names it in caches and budgets (:func:`store_key`); ``label``
    in messages (``SecretStore team-a/vault``); ``provider_name`` is the ESO provider key
    (``vault``, ``aws``, ``kubernetes``), the ``provider`` label of the call metrics."""

    key: str
    kind: StoreKind
    name: str
    namespace: str | None
    uid: str
    generation: int
    spec: StoreSpec = field(repr=False)
    provider_name: str
    provider: Provider
    label: str
