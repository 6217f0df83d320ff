"""Rollouts: restart the opted-in workloads that read a changed value at start, and count the
pods still running on an old value.

The pure parts live in :mod:`sealbox.sync` (:class:`~sealbox.sync.ConsumerIndex`,
:class:`~sealbox.sync.RestartDebouncer`, :func:`~sealbox.sync.restart_patch`,
:func:`~sealbox.sync.stale_pods`); this module wires them to the apiserver:

* informers over Deployments, StatefulSets and DaemonSets keep the consumer index current, one
  object per change; a workload that goes away leaves the index and its waiting restart;
* :meth:`Rollouts.changed` is the only trigger: the reconciler calls it after it wrote new
  values to a Secret. Nothing is restarted for what the informers merely list, so starting (or
  changing leader) never rolls anything;
* :meth:`Rollouts.run` sleeps until the debouncer's next release (or a new request), then sends
  each released workload ``kubectl rollout restart``'s strategic merge patch;
* a Pod informer feeds ``sealbox_sync_stale_consumers``: pods that read a changed key at start
  and started before that key's value was written.

Only names and keys are held or logged, never a value.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from lightkube import AsyncClient
from lightkube.resources.apps_v1 import DaemonSet, Deployment, StatefulSet
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType

from sealbox.errors import KubeNotFound
from sealbox.kube import FIELD_MANAGER, kube_errors
from sealbox.kube.runtime import Informer
from sealbox.sync import (
    RESTART_ON_CHANGE,
    ConsumerIndex,
    RestartDebouncer,
    WorkloadRef,
    restart_patch,
    secret_uses,
    stale_pods,
)

__all__ = ["RolloutMetrics", "Rollouts"]

_log = logging.getLogger(__name__)

_WORKLOADS: dict[str, type] = {
    "Deployment": Deployment,
    "StatefulSet": StatefulSet,
    "DaemonSet": DaemonSet,
}


class RolloutMetrics(Protocol):
    """The part of :class:`~sealbox.controllers.sync.metrics.SyncMetrics` rollouts report to."""

    def restart(self, namespace: str, kind: str) -> None: ...

    def stale_consumers(self, namespace: str, secret: str, count: int) -> None: ...

    def forget_secret(self, namespace: str, secret: str) -> None: ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _split(key: str) -> tuple[str, str]:
    namespace, _, name = key.partition("/")
    return namespace, name


def _as_dict(obj: Any) -> dict[str, Any]:
    result: dict[str, Any] = obj.to_dict()
    return result


class Rollouts:
    """Debounced restarts of opted-in workloads and the stale-consumer gauge.

    ``namespaces`` None watches every namespace. ``window`` is the debounce in seconds
    (``--restart-window``). ``clock`` (monotonic seconds) drives the debouncer, ``clock_wall``
    the ``restartedAt`` stamp. The caller runs :attr:`informers` and :meth:`run` (while
    leading) and calls :meth:`changed`/:meth:`forget` from the reconciler, in the same loop.
    """

    def __init__(
        self,
        client: AsyncClient,
        *,
        namespaces: tuple[str, ...] | None,
        window: float,
        metrics: RolloutMetrics,
        clock_wall: Callable[[], datetime] = _utc_now,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.metrics = metrics
        self.index = ConsumerIndex()
        self.debouncer = RestartDebouncer(window, clock=clock)
        self._clock = clock
        self._clock_wall = clock_wall
        self._wake = asyncio.Event()
        self._retried: set[WorkloadRef] = set()
        # (namespace, secret) -> key -> when the key's current value was written
        self._value_times: dict[tuple[str, str], dict[str, datetime]] = {}
        # Pods that read a Secret at start: (namespace, secret) -> pod keys, and back
        self._pods_by_secret: dict[tuple[str, str], set[str]] = {}
        self._pod_secrets: dict[str, frozenset[tuple[str, str]]] = {}
        # Changes heard before the workload informers listed: replayed once they have
        self._pending: list[tuple[str, str, frozenset[str]]] = []
        self._synced = False

        where: Iterable[str | None] = (None,) if namespaces is None else namespaces
        self._workloads: dict[tuple[str, str | None], Informer] = {}
        self._pods: dict[str | None, Informer] = {}
        for namespace in where:
            for kind, resource in _WORKLOADS.items():
                informer = Informer(client, resource, namespace=namespace)
                informer.subscribe(self._workload_handler(kind, informer))
                self._workloads[(kind, namespace)] = informer
            pods = Informer(client, Pod, namespace=namespace)
            pods.subscribe(self._pod_handler(pods))
            self._pods[namespace] = pods
        self.informers: list[Informer] = [*self._workloads.values(), *self._pods.values()]

    # -- what the reconciler calls ---------------------------------------------------------

    def changed(self, namespace: str, secret: str, keys: frozenset[str], at: datetime) -> None:
        """The Secret's ``keys`` got new values at ``at`` (timezone-aware): request a debounced
        restart of every opted-in workload that reads one of them at start, and recount the
        pods still holding the old values."""
        if at.tzinfo is None:
            raise ValueError("at must be timezone-aware")
        if not keys:
            return
        times = self._value_times.setdefault((namespace, secret), {})
        for key in keys:
            times[key] = at
        if self._synced:
            self._request(namespace, secret, keys)
        else:
            self._pending.append((namespace, secret, keys))
        self._refresh_stale(namespace, secret)

    def forget(self, namespace: str, secret: str) -> None:
        """The Secret is gone: drop its value times and its stale-consumer series."""
        if self._value_times.pop((namespace, secret), None) is not None:
            self.metrics.forget_secret(namespace, secret)

    # -- the release loop ------------------------------------------------------------------

    async def run(self) -> None:
        """Release due restarts until cancelled; waits for the workload informers' first list
        (changes heard before it are replayed), then for the next due time or a new request."""
        await asyncio.gather(*(informer.synced.wait() for informer in self._workloads.values()))
        self._synced = True
        pending, self._pending = self._pending, []
        for namespace, secret, keys in pending:
            self._request(namespace, secret, keys)
        while True:
            self._wake.clear()
            due = self.debouncer.next_due()
            delay = None if due is None else due - self._clock()
            if delay is None or delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
            for ref in self.debouncer.release():
                await self._restart(ref)

    def _request(self, namespace: str, secret: str, keys: frozenset[str]) -> None:
        for ref in self.index.restart_needed(namespace, secret, keys):
            self.debouncer.request(ref)
            self._retried.discard(ref)
        self._wake.set()

    async def _restart(self, ref: WorkloadRef) -> None:
        informer = self._workload_informer(ref)
        live = informer.get(f"{ref.namespace}/{ref.name}") if informer is not None else None
        if live is None:
            return  # deleted meanwhile
        annotations = (live.metadata.annotations if live.metadata else None) or {}
        if annotations.get(RESTART_ON_CHANGE) != "true":
            _log.info("%s opted out of restarts before its window ended; not restarted", ref)
            return
        try:
            with kube_errors():
                await self.client.patch(
                    _WORKLOADS[ref.kind],
                    ref.name,
                    restart_patch(self._clock_wall()),
                    namespace=ref.namespace,
                    patch_type=PatchType.STRATEGIC,
                    field_manager=FIELD_MANAGER,
                )
        except KubeNotFound:
            _log.debug("%s was deleted before its restart", ref)
        except Exception as exc:
            if ref in self._retried:
                self._retried.discard(ref)
                _log.error("restart of %s failed again, given up: %s", ref, exc)
            else:
                self._retried.add(ref)
                self.debouncer.request(ref)
                _log.warning("restart of %s failed, retrying in one window: %s", ref, exc)
        else:
            self._retried.discard(ref)
            self.metrics.restart(ref.namespace, ref.kind)
            _log.info("restarted %s: a value it reads at start changed", ref)

    # -- informer handlers -----------------------------------------------------------------

    def _workload_informer(self, ref: WorkloadRef) -> Informer | None:
        return self._workloads.get((ref.kind, ref.namespace)) or self._workloads.get(
            (ref.kind, None)
        )

    def _workload_handler(self, kind: str, informer: Informer) -> Callable[[str], None]:
        def handle(key: str) -> None:
            obj = informer.get(key)
            if obj is None:
                namespace, name = _split(key)
                ref = WorkloadRef(kind, namespace, name)
                self.index.remove(ref)
                self.debouncer.cancel(ref)
                self._retried.discard(ref)
            else:
                self.index.put(_as_dict(obj), kind=kind)

        return handle

    def _pod_handler(self, informer: Informer) -> Callable[[str], None]:
        def handle(key: str) -> None:
            namespace, _ = _split(key)
            before = self._pod_secrets.pop(key, frozenset())
            for secret in before:
                self._drop_pod(secret, key)
            obj = informer.get(key)
            after: frozenset[tuple[str, str]] = frozenset()
            if obj is not None:
                spec = _as_dict(obj).get("spec") or {}
                after = frozenset(
                    (namespace, use.secret) for use in secret_uses(spec) if use.how.fixed_at_start
                )
                if after:
                    self._pod_secrets[key] = after
                for secret in after:
                    self._pods_by_secret.setdefault(secret, set()).add(key)
            for namespace_secret in before | after:
                if namespace_secret in self._value_times:
                    self._refresh_stale(*namespace_secret)

        return handle

    def _drop_pod(self, secret: tuple[str, str], key: str) -> None:
        keys = self._pods_by_secret.get(secret)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._pods_by_secret[secret]

    # -- the stale-consumer gauge ----------------------------------------------------------

    def _pod_informer(self, namespace: str) -> Informer | None:
        return self._pods.get(namespace) or self._pods.get(None)

    def stale(self, namespace: str, secret: str) -> list[WorkloadRef]:
        """The pods (in the cache) that read a key of the Secret at start and started before
        that key's current value was written (empty when no change of it was heard)."""
        times = self._value_times.get((namespace, secret))
        informer = self._pod_informer(namespace)
        if not times or informer is None:
            return []
        pods = [
            _as_dict(obj)
            for key in sorted(self._pods_by_secret.get((namespace, secret), ()))
            if (obj := informer.get(key)) is not None
        ]
        by_time: dict[datetime, set[str]] = {}
        for key, at in times.items():
            by_time.setdefault(at, set()).add(key)
        found: set[WorkloadRef] = set()
        for at, keys in by_time.items():
            found.update(stale_pods(namespace, secret, at, pods, keys=keys))
        return sorted(found)

    def _refresh_stale(self, namespace: str, secret: str) -> None:
        self.metrics.stale_consumers(namespace, secret, len(self.stale(namespace, secret)))
