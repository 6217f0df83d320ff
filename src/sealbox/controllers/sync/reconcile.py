"""One ExternalSecret key in, its target Secret and status out: the sync controller's reconcile.

For a ``namespace/name`` key the reconciler reads the ExternalSecret from the informer's cache,
decides whether a refresh is due (ESO's rules, :func:`~sealbox.sync.needs_refresh`, plus ESO's
``isSecretValid``: a deleted or hand-edited target is repaired at once), and if so:

1. opens the store (:class:`.store_registry.StoreRegistry`: one provider and one credential per
   store, never a login per reconcile);
2. gathers the values through the shared :class:`.remote.RemoteReader`: version first, one read
   per distinct remote key however many ExternalSecrets name it, within the call budget;
3. renders the target (:func:`~sealbox.sync.render.render_target`) and plans the write
   (:func:`~sealbox.sync.target.plan_target`): a value that did not change is no write at all;
4. writes the Secret, tells :class:`.rollouts.Rollouts` which keys changed, and reports
   (:class:`.report.Reporter`: the status only if what it says changed, Events).

The periodic schedule lives here, in memory: after a sync the key comes back at
:func:`~sealbox.sync.next_refresh` of the oldest check it used, jittered by what it reads
(:func:`.schedule.phase_seed`), so ExternalSecrets that read the same remote keys come due
together and share one check per cycle
(:func:`.schedule.fresh_after` says how old a shared check each sync may reuse); after a
restart the overdue ones are spread over a minute. A refresh that found nothing new writes
nothing, status included (``refreshTime`` is the last sync that changed something).

Failures are status reasons and Events, never a silently missing Secret: a bad spec or a
template error waits for the next change or refresh; a store or provider failure is retried
with the runtime's per-key backoff (the provider itself holds back after a refused credential).
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sealbox.controllers.sync.gather import Gathered, gather
from sealbox.controllers.sync.index import DependentIndex
from sealbox.controllers.sync.remote import RemoteReader
from sealbox.controllers.sync.report import Reported, Reporter
from sealbox.controllers.sync.resources import external_secret_manifest
from sealbox.controllers.sync.schedule import fresh_after, latest, phase_seed, synced_version
from sealbox.controllers.sync.status import (
    EVENT_CREATED,
    EVENT_DELETED,
    EVENT_UPDATED,
    SECRET_DELETED,
    SECRET_MISSING,
    SECRET_SYNCED,
    SECRET_SYNCED_ERROR,
    Outcome,
)
from sealbox.controllers.sync.store_registry import StoreNotReady, StoreRegistry
from sealbox.controllers.sync.targets import Targets, Verb, target_valid
from sealbox.errors import KubeConflict, KubeError, ProviderError, RemoteKeyMissing
from sealbox.kube.runtime import EventRecorder
from sealbox.sync import (
    CreationPolicy,
    DeletionPolicy,
    ExternalSecretSpec,
    RefreshReason,
    RenderError,
    StoreKind,
    SyncSpecError,
    SyncStatus,
    TargetPlan,
    field_manager,
    needs_refresh,
    next_refresh,
    parse_external_secret,
    plan_remote_gone,
    plan_target,
    render_target,
)

__all__ = ["SyncFailed", "SyncReconciler"]

_log = logging.getLogger(__name__)


class SyncFailed(Exception):
    """Raised so the runtime retries the key after its backoff (the message names the cause)."""


class SyncMetricsLike(Protocol):
    def sync_call(self, namespace: str, name: str, *, ok: bool) -> None: ...
    def reconcile_duration(self, namespace: str, name: str, seconds: float) -> None: ...
    def es_condition(self, namespace: str, name: str, condition: str, status: str) -> None: ...
    def synced(
        self,
        namespace: str,
        name: str,
        *,
        at: datetime.datetime,
        oldest_check: datetime.datetime,
        latency: float | None,
    ) -> None: ...
    def forget_external_secret(self, namespace: str, name: str) -> None: ...


class ChangeListener(Protocol):
    def changed(
        self, namespace: str, secret: str, keys: frozenset[str], at: datetime.datetime
    ) -> None: ...
    def forget(self, namespace: str, secret: str) -> None: ...


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass(slots=True)
class _Memory:
    """What the reconciler remembers of one ExternalSecret during a leadership term."""

    uid: str
    checked: datetime.datetime | None = None  # oldest check of the values the target holds
    due: datetime.datetime | None = None  # the scheduled periodic refresh
    reported: Reported | None = None  # last outcome an Event said, and generation
    target: str | None = None


class SyncReconciler:
    """The runtime's ``Reconcile`` for ExternalSecret keys (``namespace/name``)."""

    def __init__(
        self,
        client: Any,
        *,
        find: Callable[[str], Any | None],
        stores: StoreRegistry,
        reader: RemoteReader,
        targets: Targets,
        events: EventRecorder,
        metrics: SyncMetricsLike,
        rollouts: ChangeListener | None = None,
        index: DependentIndex | None = None,
        delimiters: tuple[str, str] = ("{{", "}}"),
        clock: Callable[[], datetime.datetime] = _now,
    ) -> None:
        """``find(key)`` returns the cached ExternalSecret (None: it does not exist)."""
        self.client = client
        self.index = index or DependentIndex()
        self._find = find
        self._stores = stores
        self._reader = reader
        self._targets = targets
        self._reporter = Reporter(client, events=events, metrics=metrics, clock=clock)
        self._metrics = metrics
        self._rollouts = rollouts
        self._delimiters = delimiters
        self._clock = clock
        self._memory: dict[str, _Memory] = {}
        self._term_started = clock()

    def reset(self) -> None:
        """Forget the schedule: a new leadership term judges every ExternalSecret afresh."""
        self._memory.clear()
        self._term_started = self._clock()

    async def __call__(self, key: str) -> float | None:
        namespace, _, name = key.partition("/")
        obj = self._find(key)
        if obj is None:
            self._gone(key, namespace, name)
            return None
        started = time.perf_counter()
        try:
            return await self._reconcile(key, external_secret_manifest(obj))
        finally:
            self._metrics.reconcile_duration(namespace, name, time.perf_counter() - started)

    def _gone(self, key: str, namespace: str, name: str) -> None:
        """Deleted: an owned target goes with it (its ownerReference), an orphan stays."""
        self._memory.pop(key, None)
        self.index.drop(key)
        self._metrics.forget_external_secret(namespace, name)

    async def _reconcile(self, key: str, es: dict[str, Any]) -> float | None:
        metadata: Mapping[str, Any] = es.get("metadata") or {}
        namespace = str(metadata.get("namespace"))
        uid = str(metadata.get("uid", ""))
        memory = self._memory.get(key)
        if memory is None or memory.uid != uid:
            memory = self._memory[key] = _Memory(uid)
        now = self._clock()
        try:
            spec = parse_external_secret(es, delimiters=self._delimiters)
        except SyncSpecError as exc:
            await self._finish(es, memory, Outcome(False, SECRET_SYNCED_ERROR, str(exc)), None)
            return None
        self.index.record(key, spec.target.name, spec.store_ref)
        policy = spec.target.creation_policy
        managed = policy in (CreationPolicy.OWNER, CreationPolicy.ORPHAN)
        cached = self._targets.cached(namespace, spec.target.name) if managed else None
        valid = not managed or target_valid(
            cached, managed=True, required=policy is CreationPolicy.OWNER
        )
        if managed and cached is None and policy is CreationPolicy.ORPHAN:
            valid = True  # an orphan deleted by hand stays deleted until the next refresh
        status = SyncStatus.from_status(es.get("status"))
        effective = SyncStatus(
            latest(status.refresh_time, memory.checked), status.synced_resource_version
        )
        decision = needs_refresh(spec, effective, metadata, now)
        if valid and (not decision or decision.reason is RefreshReason.INTERVAL_ELAPSED):
            if memory.due is None:
                memory.due = next_refresh(spec, effective, phase_seed(spec, namespace), now)
            if memory.due is None:
                return None
            if memory.due > now:
                return (memory.due - now).total_seconds()
        oldest = fresh_after(
            spec, decision.reason, metadata, now=now, term_started=self._term_started
        )
        return await self._sync(es, spec, memory, oldest)

    async def _sync(
        self,
        es: dict[str, Any],
        spec: ExternalSecretSpec,
        memory: _Memory,
        fresh_after: datetime.datetime,
    ) -> float | None:
        metadata: Mapping[str, Any] = es["metadata"]
        namespace, name = str(metadata["namespace"]), str(metadata["name"])
        target = spec.target.name
        ref = spec.store_ref
        store_namespace = None if ref.kind is StoreKind.CLUSTER_SECRET_STORE else namespace
        try:
            store = await self._stores.open(ref, namespace)
        except StoreNotReady as exc:
            await self._stores.report(ref.kind, store_namespace, ref.name)
            await self._fail(
                es, memory, f"store {spec.store_ref.kind.value} {spec.store_ref.name}: {exc}"
            )
            raise SyncFailed(str(exc)) from None
        await self._stores.report(ref.kind, store_namespace, ref.name)
        try:
            gathered = await gather(self._reader, store, spec, fresh_after=fresh_after)
        except RemoteKeyMissing as exc:
            return await self._remote_gone(es, spec, memory, str(exc))
        except ProviderError as exc:
            await self._fail(es, memory, str(exc))
            raise SyncFailed(str(exc)) from None
        try:
            rendered = render_target(spec, gathered.fetched, delimiters=self._delimiters)
        except RenderError as exc:
            await self._fail(es, memory, str(exc))
            return self._after(spec, memory, gathered, es)
        for attempt in (1, 2):
            existing = await self._targets.read(namespace, target, fresh=attempt == 2)
            plan = plan_target(es, spec, rendered, existing)
            try:
                verb = await self._targets.apply(
                    plan, namespace, target, manager=field_manager(name)
                )
            except KubeConflict:
                if attempt == 2:
                    raise
                continue
            except KubeError as exc:
                await self._fail(es, memory, f"Secret {namespace}/{target}: {exc}")
                raise SyncFailed(str(exc)) from None
            break
        if plan.action in ("foreign", "immutable", "missing"):
            reason = SECRET_MISSING if plan.action == "missing" else SECRET_SYNCED_ERROR
            await self._finish(es, memory, Outcome(False, reason, plan.message), None)
            self._metrics.sync_call(namespace, name, ok=False)
            return self._after(spec, memory, gathered, es)
        now = self._clock()
        if verb is not None:
            await self._wrote(es, verb, plan, existing, target, now)
        await self._finish(
            es,
            memory,
            Outcome(True, SECRET_SYNCED),
            synced_version(metadata),
            wrote=verb is not None,
        )
        self._metrics.sync_call(namespace, name, ok=True)
        latency = (now - gathered.newest_change).total_seconds() if verb is not None else None
        self._metrics.synced(
            namespace, name, at=now, oldest_check=gathered.oldest_check, latency=latency
        )
        previous_target = memory.target
        memory.target = target
        if previous_target and previous_target != target:
            await self._drop_old_target(es, spec, previous_target)
        return self._after(spec, memory, gathered, es)

    def _after(
        self, spec: ExternalSecretSpec, memory: _Memory, gathered: Gathered, es: Mapping[str, Any]
    ) -> float | None:
        """Schedule the next periodic refresh from the oldest check used; seconds until it."""
        memory.checked = gathered.oldest_check
        now = self._clock()
        namespace = str(es["metadata"]["namespace"])
        checked = SyncStatus(gathered.oldest_check, "x")
        memory.due = next_refresh(spec, checked, phase_seed(spec, namespace), now)
        if memory.due is None:
            return None
        return max((memory.due - now).total_seconds(), 0.0)

    async def _wrote(
        self,
        es: Mapping[str, Any],
        verb: Verb,
        plan: TargetPlan,
        existing: Mapping[str, Any] | None,
        target: str,
        now: datetime.datetime,
    ) -> None:
        metadata = es["metadata"]
        namespace = str(metadata["namespace"])
        reason = {"create": EVENT_CREATED, "update": EVENT_UPDATED, "delete": EVENT_DELETED}[verb]
        note = {
            "create": f"Created Secret {target}",
            "update": f"Updated Secret {target}: keys " + ", ".join(sorted(plan.changed_keys)),
            "delete": f"Deleted Secret {target}",
        }[verb]
        await self._reporter.event(es, "Normal", reason, note[:900])
        if self._rollouts is None:
            return
        if verb == "update" and existing is not None and plan.changed_keys:
            self._rollouts.changed(namespace, target, plan.changed_keys, now)
        elif verb == "delete":
            self._rollouts.forget(namespace, target)

    async def _remote_gone(
        self, es: dict[str, Any], spec: ExternalSecretSpec, memory: _Memory, message: str
    ) -> float | None:
        """The remote value is gone: the deletionPolicy says what happens to the Secret."""
        metadata = es["metadata"]
        namespace, name = str(metadata["namespace"]), str(metadata["name"])
        target = spec.target.name
        existing = await self._targets.read(namespace, target, fresh=True)
        plan = plan_remote_gone(es, spec, existing)
        try:
            verb = await self._targets.apply(plan, namespace, target, manager=field_manager(name))
        except KubeError as exc:
            await self._fail(es, memory, f"Secret {namespace}/{target}: {exc}")
            raise SyncFailed(str(exc)) from None
        now = self._clock()
        if verb is not None:
            await self._wrote(es, verb, plan, existing, target, now)
        self._metrics.sync_call(namespace, name, ok=False)
        if spec.target.deletion_policy is DeletionPolicy.DELETE:
            outcome = Outcome(False, SECRET_DELETED, f"secret deleted: {message}")
            await self._finish(
                es, memory, outcome, synced_version(metadata), wrote=verb is not None
            )
            memory.due = None
            return None
        await self._finish(es, memory, Outcome(False, SECRET_SYNCED_ERROR, message), None)
        raise SyncFailed(message)

    async def _drop_old_target(
        self, es: Mapping[str, Any], spec: ExternalSecretSpec, old: str
    ) -> None:
        """``target.name`` changed: delete the Secret the ExternalSecret owned under the old
        name (Owner only; a Secret it does not control is left alone)."""
        if spec.target.creation_policy is not CreationPolicy.OWNER:
            return
        metadata = es["metadata"]
        namespace = str(metadata["namespace"])
        existing = await self._targets.read(namespace, old, fresh=True)
        owners = ((existing or {}).get("metadata") or {}).get("ownerReferences") or ()
        if not any(o.get("controller") and o.get("uid") == metadata.get("uid") for o in owners):
            return
        plan = TargetPlan("delete", None, frozenset(), f"Secret {old} is no longer the target")
        try:
            await self._targets.apply(
                plan, namespace, old, manager=field_manager(str(metadata["name"]))
            )
        except KubeError as exc:
            _log.warning(
                "%s/%s: could not delete the old target %s: %s",
                namespace,
                metadata["name"],
                old,
                exc,
            )

    async def _fail(self, es: dict[str, Any], memory: _Memory, message: str) -> None:
        metadata = es["metadata"]
        self._metrics.sync_call(str(metadata["namespace"]), str(metadata["name"]), ok=False)
        await self._finish(es, memory, Outcome(False, SECRET_SYNCED_ERROR, message), None)

    async def _finish(
        self,
        es: dict[str, Any],
        memory: _Memory,
        outcome: Outcome,
        synced: str | None,
        *,
        wrote: bool = False,
    ) -> None:
        memory.reported = await self._reporter.finish(
            es, outcome, synced, wrote=wrote, reported=memory.reported
        )
