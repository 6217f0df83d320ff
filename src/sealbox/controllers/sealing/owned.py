"""Which owned Secrets were deleted: the trigger that recreates them (``--skip-recreate`` off).

Upstream watches every Secret with a full informer, so the controller holds every Secret's
values in memory and receives them on every change. Recreating needs far less: only the
*metadata* of Secrets, and only deletions. So this is the runtime's
:class:`~sealbox.kube.runtime.Informer` over Secret metadata (``metadata_only``: the apiserver
never sends ``data``) that keeps nothing but the keys of the Secrets the controller would
recreate (controlled by the same-named SealedSecret, or annotated ``managed``), never their
metadata (``kubectl apply`` can copy a Secret's values into an annotation), and announces a key
only when such a Secret is DELETED. Other changes are not announced: upstream does not revert
edits made by others either.

The informer's loop lists, watches and relists on 410; a relist announces owned keys that
vanished meanwhile, so a deletion missed while the watch was down still recreates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Secret

from sealbox.controllers.sealing.secrets import is_owned
from sealbox.kube import ObjectMetadata
from sealbox.kube.runtime import Informer, object_key

__all__ = ["OwnedSecretDeletions"]


class OwnedSecretDeletions(Informer):
    """Announces ``namespace/name`` when an owned Secret is deleted (metadata only, no values).

    ``on_deleted(key)`` runs before the key is announced, so the reconciler can forget that it
    had synced that SealedSecret.
    """

    def __init__(
        self,
        client: AsyncClient,
        *,
        namespace: str | None = None,
        on_deleted: Callable[[str], None] | None = None,
        watch_timeout_seconds: int = 300,
    ) -> None:
        super().__init__(
            client,
            Secret,
            namespace=namespace,
            watch_timeout_seconds=watch_timeout_seconds,
            metadata_only=True,
        )
        self._on_deleted = on_deleted
        self._owned: set[str] = set()

    def cached_keys(self) -> list[str]:
        return []  # the SealedSecrets' informer resyncs those keys; nothing to add here

    def get(self, key: str) -> Any | None:
        return None  # no Secret is cached: reconcile reads the one it needs

    @property
    def owned(self) -> frozenset[str]:
        return frozenset(self._owned)

    def _replace(self, objects: list[Any]) -> Iterable[str]:
        fresh = {object_key(meta) for meta in objects if is_owned(_as_mapping(meta))}
        gone = self._owned - fresh
        self._owned = fresh
        return self._deleted(sorted(gone))

    def _apply(self, kind: str, obj: Any) -> Iterable[str]:
        key, owned = object_key(obj), is_owned(_as_mapping(obj))
        if kind == "DELETED":
            if key in self._owned or owned:
                self._owned.discard(key)
                return self._deleted([key])
        elif owned:
            self._owned.add(key)
        else:
            self._owned.discard(key)
        return ()

    def _deleted(self, keys: list[str]) -> list[str]:
        """Tell ``on_deleted`` first, then hand the keys back for the informer to announce."""
        if self._on_deleted is not None:
            for key in keys:
                self._on_deleted(key)
        return keys


def _as_mapping(meta: ObjectMetadata) -> dict[str, Any]:
    """The parts of the metadata :func:`is_owned` reads, in the API's spelling."""
    return {
        "name": meta.name,
        "namespace": meta.namespace,
        "annotations": meta.annotations,
        "ownerReferences": list(meta.owner_references),
    }
