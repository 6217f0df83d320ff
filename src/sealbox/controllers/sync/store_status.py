"""A store's ``Ready`` condition: ESO's reasons, the error that carries one, and its write.

:class:`StoreNotReady` is what :class:`~sealbox.controllers.sync.store_registry.StoreRegistry`
raises when a store cannot serve an ExternalSecret, with one of ESO's reasons (below).
:class:`StoreStatus` writes the condition the registry judged onto the SecretStore or
ClusterSecretStore, with ``status.capabilities`` and an Event, only when it changed (and not again
while the informer's cache has yet to see our own write), and keeps the
``*secretstore_status_condition`` series of :class:`StoreMetrics` up to date.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from lightkube import AsyncClient

from sealbox.controllers.sync.resources import (
    EXTERNAL_SECRETS_API_VERSION,
    ClusterSecretStore,
    SecretStore,
)
from sealbox.errors import KubeError, SealboxError
from sealbox.kube import kube_errors
from sealbox.kube.runtime import Condition, EventRecorder, Regarding, patch_status, set_condition
from sealbox.sync import StoreKind

__all__ = [
    "INVALID_PROVIDER_CONFIG",
    "INVALID_STORE_CONFIGURATION",
    "NAMESPACE_NOT_ALLOWED",
    "STORE_MISSING",
    "STORE_VALID",
    "VALIDATION_FAILED",
    "VALID_CONDITION",
    "StoreMetrics",
    "StoreNotReady",
    "StoreStatus",
    "store_identity",
    "store_label",
]

_log = logging.getLogger(__name__)

# ESO's reasons (apis/externalsecrets/v1 and its SecretStore reconciler).
STORE_VALID = "Valid"
STORE_MISSING = "StoreMissing"
INVALID_STORE_CONFIGURATION = "InvalidStoreConfiguration"
INVALID_PROVIDER_CONFIG = "InvalidProviderConfig"
NAMESPACE_NOT_ALLOWED = "NamespaceNotAllowed"
VALIDATION_FAILED = "ValidationFailed"
VALID_CONDITION = Condition("Ready", "True", STORE_VALID, "store validated")
"""The condition of a store that opened and validated (or that ESO too would call valid)."""
_CAPABILITIES = "ReadOnly"  # ESO's status.capabilities: Sealbox only reads from stores


class StoreNotReady(SealboxError):
    """The store cannot serve the ExternalSecret: ``reason`` is ESO's (``StoreMissing``,
    ``InvalidStoreConfiguration``, ``InvalidProviderConfig``, ``NamespaceNotAllowed``,
    ``ValidationFailed``), the message names the store and the field or credential, never a
    value. ``retry_after``: seconds before the registry tries the store again (0: at once)."""

    def __init__(self, reason: str, message: str, *, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


class StoreMetrics(Protocol):
    """The two :class:`~sealbox.controllers.sync.metrics.SyncMetrics` methods the registry uses."""

    def store_condition(
        self, kind: StoreKind, namespace: str | None, name: str, *, ready: bool
    ) -> None: ...

    def forget_store(self, kind: StoreKind, namespace: str | None, name: str) -> None: ...


def store_identity(obj: Mapping[str, Any]) -> tuple[str, int]:
    """A store object's ``(uid, metadata.generation)``: what a change of spec or a new store
    changes."""
    meta = obj.get("metadata") or {}
    return str(meta.get("uid") or ""), int(meta.get("generation") or 0)


def store_label(kind: StoreKind, namespace: str | None, name: str) -> str:
    """How logs and messages name a store: ``SecretStore ns/name``, ``ClusterSecretStore name``."""
    return f"{kind.value} {namespace}/{name}" if namespace else f"{kind.value} {name}"


def _ready(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or ():
        if isinstance(condition, Mapping) and condition.get("type") == "Ready":
            return condition
    return None


class StoreStatus:
    """The ``Ready`` conditions written to stores, and those of their metric series; see the
    module."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        events: EventRecorder,
        metrics: StoreMetrics,
        clock: Callable[[], datetime.datetime],
    ) -> None:
        self._client = client
        self._events = events
        self._metrics = metrics
        self._clock = clock
        self._written: dict[tuple[StoreKind, str | None, str], tuple[str, str, Condition]] = {}

    def forget(self, kind: StoreKind, namespace: str | None, name: str) -> None:
        """The store is gone: drop its series and what was written to it."""
        self._metrics.forget_store(kind, namespace, name)
        self._written.pop((kind, namespace, name), None)

    async def write(
        self,
        kind: StoreKind,
        namespace: str | None,
        name: str,
        obj: Mapping[str, Any],
        condition: Condition,
    ) -> None:
        """Put ``condition`` on the store ``obj`` (as the cache has it) and record an Event, when
        it differs from what the store shows; update the store's series either way. A failed
        write is logged and left for the next report."""
        self._metrics.store_condition(kind, namespace, name, ready=condition.status == "True")
        uid, generation = store_identity(obj)
        seen = _ready(obj) or {}
        status = obj.get("status") or {}
        # The CRD keeps type, status, reason, message and lastTransitionTime (no
        # observedGeneration, as in ESO), so those are what "unchanged" compares.
        if (seen.get("status"), seen.get("reason"), seen.get("message")) == (
            condition.status,
            condition.reason,
            condition.message,
        ) and status.get("capabilities") == _CAPABILITIES:
            return
        version = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        if self._written.get((kind, namespace, name)) == (uid, version, condition):
            return  # written already; the cache has not seen our write yet
        conditions = set_condition(
            status.get("conditions") or (),
            condition,
            observed_generation=generation,
            now=self._clock(),
        )
        resource = SecretStore if kind is StoreKind.SECRET_STORE else ClusterSecretStore
        label = store_label(kind, namespace, name)
        try:
            with kube_errors():
                await patch_status(
                    self._client,
                    resource,
                    name,
                    {"conditions": conditions, "capabilities": _CAPABILITIES},
                    namespace=namespace,
                )
        except KubeError as exc:
            _log.warning("%s: could not write status: %s", label, exc)
            return
        self._written[(kind, namespace, name)] = (uid, version, condition)
        ok = condition.status == "True"
        await self._events.record(
            Regarding(EXTERNAL_SECRETS_API_VERSION, kind.value, name, namespace, uid or None),
            type="Normal" if ok else "Warning",
            reason=condition.reason,
            action="Validate",
            note=condition.message,
        )
        _log.log(logging.INFO if ok else logging.WARNING, "%s: %s", label, condition.message)
