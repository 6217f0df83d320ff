"""Which ExternalSecrets a Secret, a store or a namespace concerns: the maps behind the sync
controller's secondary watches.

The reconciler records, for each ExternalSecret it parsed, its target Secret and its store; a
change of that Secret (an edit to revert, a deletion to repair), of that store (new credentials,
a new server) or of a namespace's labels (a ClusterSecretStore's conditions) then enqueues
exactly the ExternalSecrets it concerns, and nothing else.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable
from typing import TypeVar

from sealbox.sync import StoreKind, StoreRef

__all__ = ["DependentIndex", "StoreId"]

_K = TypeVar("_K", bound=Hashable)

#: A store as the watches name it: its kind, namespace (None for a ClusterSecretStore), name.
StoreId = tuple[StoreKind, str | None, str]


def _split(key: str) -> tuple[str, str]:
    namespace, _, name = key.partition("/")
    return namespace, name


class DependentIndex:
    """ExternalSecret keys by target Secret, by store and (for cluster stores) by namespace."""

    def __init__(self) -> None:
        self._targets: dict[str, set[str]] = defaultdict(set)
        self._stores: dict[StoreId, set[str]] = defaultdict(set)
        self._of: dict[str, tuple[str, StoreId]] = {}

    def record(self, key: str, target: str, store: StoreRef) -> None:
        """ExternalSecret ``key`` (``namespace/name``) writes Secret ``target`` in its namespace
        and reads ``store``."""
        namespace, _ = _split(key)
        store_id: StoreId = (
            store.kind,
            None if store.kind is StoreKind.CLUSTER_SECRET_STORE else namespace,
            store.name,
        )
        entry = (f"{namespace}/{target}", store_id)
        if self._of.get(key) == entry:
            return
        self.drop(key)
        self._of[key] = entry
        self._targets[entry[0]].add(key)
        self._stores[store_id].add(key)

    def drop(self, key: str) -> None:
        """Forget ExternalSecret ``key`` (deleted)."""
        entry = self._of.pop(key, None)
        if entry is None:
            return
        _discard(self._targets, entry[0], key)
        _discard(self._stores, entry[1], key)

    def target_of(self, key: str) -> str | None:
        """The ``namespace/name`` of the Secret ``key`` last wrote (None: never parsed)."""
        entry = self._of.get(key)
        return None if entry is None else entry[0]

    def by_secret(self, secret_key: str) -> list[str]:
        """The ExternalSecrets whose target is Secret ``secret_key`` (``namespace/name``)."""
        return sorted(self._targets.get(secret_key, ()))

    def by_store(self, kind: StoreKind, store_key: str) -> list[str]:
        """The ExternalSecrets reading the store with informer key ``store_key`` (``ns/name``
        for a SecretStore, ``name`` for a ClusterSecretStore)."""
        if kind is StoreKind.CLUSTER_SECRET_STORE:
            store_id: StoreId = (kind, None, store_key)
        else:
            namespace, name = _split(store_key)
            store_id = (kind, namespace, name)
        return sorted(self._stores.get(store_id, ()))

    def by_namespace(self, namespace: str) -> list[str]:
        """The ExternalSecrets in ``namespace`` that read a ClusterSecretStore (whose
        conditions may look at the namespace's labels)."""
        found: Iterable[str] = (
            key
            for (kind, _, _), keys in self._stores.items()
            if kind is StoreKind.CLUSTER_SECRET_STORE
            for key in keys
            if _split(key)[0] == namespace
        )
        return sorted(found)


def _discard(table: dict[_K, set[str]], index: _K, key: str) -> None:
    keys = table.get(index)
    if keys is not None:
        keys.discard(key)
        if not keys:
            del table[index]
