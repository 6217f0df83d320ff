"""``sealbox controller sync``: the process that syncs ExternalSecrets, on the shared runtime.

One replica at a time leads (a Lease); the leader watches, in every namespace or the chosen
ones:

* ExternalSecrets: the primary keys, each reconciled by :class:`.reconcile.SyncReconciler`;
* the managed target Secrets (label ``reconcile.external-secrets.io/managed=true`` only), so a
  deleted or hand-edited target is repaired at once;
* SecretStores and ClusterSecretStores, so a changed store is reopened and its ExternalSecrets
  synced; and Namespaces' labels (metadata only) for ClusterSecretStore conditions;
* Deployments, StatefulSets, DaemonSets and Pods for :class:`.rollouts.Rollouts`.

Those secondary watches map each change to the ExternalSecrets it concerns
(:class:`.index.DependentIndex`). A term ends by closing every store (tokens revoked), so a
standby holds no credential.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Namespace, Secret

from sealbox.controllers.sync.budget import CallBudget
from sealbox.controllers.sync.index import DependentIndex
from sealbox.controllers.sync.metrics import SyncMetrics
from sealbox.controllers.sync.reconcile import SyncReconciler
from sealbox.controllers.sync.remote import RemoteReader
from sealbox.controllers.sync.resources import ClusterSecretStore, ExternalSecret, SecretStore
from sealbox.controllers.sync.rollouts import Rollouts
from sealbox.controllers.sync.settings import SyncSettings
from sealbox.controllers.sync.store_registry import StoreRegistry
from sealbox.controllers.sync.targets import Targets
from sealbox.kube import KubeTarget, ObjectMetadata, async_client
from sealbox.kube.runtime import (
    Backoff,
    Controller,
    ControllerMetrics,
    ControllerOptions,
    EventRecorder,
    Informer,
    LeaderElector,
    Watch,
    run_controller,
)
from sealbox.sync import LABEL_MANAGED, LABEL_MANAGED_VALUE, StoreKind

__all__ = ["CONTROLLER_NAME", "SyncController", "build_sync_controller", "run_sync_controller"]

_log = logging.getLogger(__name__)

CONTROLLER_NAME = "sync"
#: Retries of a failing ExternalSecret: quick at first, then at most every five minutes (ESO's
#: users saw fifteen, #4180).
_BACKOFF = Backoff(base_seconds=1.0, max_seconds=300.0)


class SyncController(Controller):
    """A runtime :class:`Controller` whose terms start with a fresh schedule, run the rollout
    loop beside the workers, and close every store at the end."""

    def __init__(
        self,
        *args: Any,
        reconciler: SyncReconciler,
        stores: StoreRegistry,
        rollouts: Rollouts | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.reconciler = reconciler
        self.stores = stores
        self.rollouts = rollouts

    async def lead(self, stepping_down: asyncio.Event) -> None:
        self.reconciler.reset()
        side = asyncio.create_task(self.rollouts.run()) if self.rollouts is not None else None
        try:
            await super().lead(stepping_down)
        finally:
            if side is not None:
                side.cancel()
                await asyncio.gather(side, return_exceptions=True)
            await self.stores.close()


def _in_scope(informers: Mapping[str | None, Informer], namespace: str | None) -> Informer | None:
    return informers.get(None) or informers.get(namespace)


def build_sync_controller(
    client: AsyncClient,
    settings: SyncSettings,
    *,
    events: EventRecorder,
    metrics: ControllerMetrics,
    sync_metrics: SyncMetrics,
    backoff: Backoff | None = None,
) -> SyncController:
    """Every informer, the reader, the stores, the reconciler and the runtime controller."""
    scopes: tuple[str | None, ...] = (None,) if settings.namespaces is None else settings.namespaces
    external = {ns: Informer(client, ExternalSecret, namespace=ns) for ns in scopes}
    secrets = {
        ns: Informer(client, Secret, namespace=ns, labels={LABEL_MANAGED: LABEL_MANAGED_VALUE})
        for ns in scopes
    }
    stores = {ns: Informer(client, SecretStore, namespace=ns) for ns in scopes}
    cluster_stores = Informer(client, ClusterSecretStore)
    namespaces = Informer(client, Namespace, metadata_only=True)

    def find_es(key: str) -> Any | None:
        informer = _in_scope(external, key.partition("/")[0])
        return None if informer is None else informer.get(key)

    def find_secret(key: str) -> Any | None:
        informer = _in_scope(secrets, key.partition("/")[0])
        return None if informer is None else informer.get(key)

    def find_store(kind: StoreKind, namespace: str | None, name: str) -> Any | None:
        if kind is StoreKind.CLUSTER_SECRET_STORE:
            return cluster_stores.get(name)
        informer = _in_scope(stores, namespace)
        return None if informer is None else informer.get(f"{namespace}/{name}")

    def namespace_labels(namespace: str) -> Mapping[str, str] | None:
        found = namespaces.get(namespace)
        return dict(found.labels) if isinstance(found, ObjectMetadata) else None

    registry = StoreRegistry(
        client,
        find_store=find_store,
        namespace_labels=namespace_labels,
        events=events,
        metrics=sync_metrics,
    )
    budget = CallBudget(
        store_rate=settings.store_rate,
        store_burst=settings.store_burst,
        total_rate=settings.total_rate,
        total_burst=settings.total_burst,
    )
    reader = RemoteReader(budget, on_call=sync_metrics.provider_call)
    rollouts = Rollouts(
        client,
        namespaces=settings.namespaces,
        window=settings.restart_window,
        metrics=sync_metrics,
    )
    index = DependentIndex()
    reconciler = SyncReconciler(
        client,
        find=find_es,
        stores=registry,
        reader=reader,
        targets=Targets(client, cached=find_secret, metrics=sync_metrics),
        events=events,
        metrics=sync_metrics,
        rollouts=rollouts,
        index=index,
        delimiters=settings.delimiters,
    )
    nothing: Callable[[str], list[str]] = lambda _key: []  # noqa: E731 - runs and syncs only
    watches = [
        *(Watch(informer, index.by_secret) for informer in secrets.values()),
        *(
            Watch(informer, _by_store(index, StoreKind.SECRET_STORE))
            for informer in stores.values()
        ),
        Watch(cluster_stores, _by_store(index, StoreKind.CLUSTER_SECRET_STORE)),
        Watch(namespaces, index.by_namespace),
        *(Watch(informer, nothing) for informer in rollouts.informers),
    ]
    return SyncController(
        ControllerOptions(
            CONTROLLER_NAME,
            workers=settings.workers,
            resync_seconds=settings.resync_seconds,
            backoff=backoff or _BACKOFF,
        ),
        reconciler,
        informers=list(external.values()),
        watches=watches,
        metrics=metrics,
        reconciler=reconciler,
        stores=registry,
        rollouts=rollouts,
    )


def _by_store(index: DependentIndex, kind: StoreKind) -> Callable[[str], list[str]]:
    return lambda key: index.by_store(kind, key)


async def run_sync_controller(
    target: KubeTarget, settings: SyncSettings, *, stop: asyncio.Event | None = None
) -> None:
    """Run one replica until ``stop`` is set or SIGTERM/SIGINT (see the module docstring)."""
    client = async_client(target)
    metrics = ControllerMetrics()
    sync_metrics = SyncMetrics(metrics.registry)
    controller = build_sync_controller(
        client,
        settings,
        events=EventRecorder(client, instance=settings.lease.identity),
        metrics=metrics,
        sync_metrics=sync_metrics,
    )
    elector = LeaderElector(client, settings.lease)
    listen = settings.metrics_listen
    try:
        await run_controller(
            controller,
            elector,
            metrics=metrics,
            health_port=None if listen is None else listen[1],
            health_host="0.0.0.0" if listen is None else listen[0],  # noqa: S104
            stop=stop,
        )
    finally:
        await controller.stores.close()
        await client.close()
