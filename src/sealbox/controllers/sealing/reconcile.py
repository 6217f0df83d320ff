"""One SealedSecret key in, its Secret out: the sealing controller's reconcile (spec §2.4 to §2.7).

For a ``namespace/name`` key the reconciler reads the SealedSecret from the informer's cache,
unseals it with the key ring (the RSA work in a thread, off the event loop), writes the Secret by
the rules of :mod:`.secrets`, then reports: an Event with upstream's reason (``Unsealed``,
``ErrUnsealFailed``, ``ErrUpdateFailed``), the ``Synced`` condition (:mod:`.status`) and the
metrics (:mod:`.metrics`). Messages name items and objects, never a value.

When it unseals (upstream's triggers): a SealedSecret is added, or its ``spec`` changed, or its
owned Secret was deleted. The runtime calls the reconciler on every change of the object
(including the status it writes itself and label edits) and on every resync, so the reconciler
remembers, per key, the ``(uid, generation)`` it last finished; ``metadata.generation`` moves
exactly when ``spec`` changes, so an unchanged SealedSecret is not unsealed again (#1174). The
memory is per leadership term (:meth:`reset`): a new leader unseals everything once, as
upstream does at start. A deleted owned Secret bumps the key's epoch (:meth:`forget`) so it is
recreated even if that happens while the same key is being reconciled.

Failures: an unseal, foreign-Secret or API failure is retried with the runtime's backoff up to
``max_unseal_retries`` times, then left until the next trigger; an immutable Secret is not
retried (only deleting it helps). Events and status are written when the outcome changes, not on
every retry.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from lightkube import AsyncClient
from lightkube.resources.core_v1 import Secret

from sealbox.controllers.sealing.metrics import SealingMetrics
from sealbox.controllers.sealing.resource import (
    SEALED_SECRET_API_VERSION,
    SEALED_SECRET_KIND,
    SealedSecret,
    sealed_secret_manifest,
)
from sealbox.controllers.sealing.secrets import (
    controller_of,
    desired_secret,
    foreign_message,
    plan_write,
)
from sealbox.controllers.sealing.selector import LabelSelector
from sealbox.controllers.sealing.status import UNSEALED, SyncResult, next_status
from sealbox.errors import KubeError, KubeNotFound, UnsealError
from sealbox.kube import kube_errors
from sealbox.kube.runtime import EventRecorder, Regarding, patch_status
from sealbox.sealing import KeyRing

__all__ = [
    "ERR_UNSEAL_FAILED",
    "ERR_UPDATE_FAILED",
    "EVENT_UNSEALED",
    "ReconcileOptions",
    "RetryUnseal",
    "SealingReconciler",
    "Unseal",
]

_log = logging.getLogger(__name__)

EVENT_UNSEALED = "Unsealed"
ERR_UNSEAL_FAILED = "ErrUnsealFailed"
ERR_UPDATE_FAILED = "ErrUpdateFailed"
_SUCCESS_NOTE = "SealedSecret unsealed successfully"
_IMMUTABLE_API_TEXT = "field is immutable when `immutable` is set"

#: ``unseal_sealed_secret``'s shape: a SealedSecret dict and ``open_value(ciphertext, label)``
#: in, the Secret manifest dict out; raises :class:`~sealbox.errors.UnsealFailed`.
Unseal = Callable[[Mapping[str, Any], Callable[[bytes, bytes], bytes]], dict[str, Any]]


class RetryUnseal(Exception):
    """Raised so the runtime retries the key after its backoff (the message names the cause)."""


def _match_all(labels: Mapping[str, str]) -> bool:
    return True


@dataclass(frozen=True, slots=True)
class ReconcileOptions:
    """The flags that change what a reconcile does (``--update-status`` and the like)."""

    update_status: bool = True
    max_unseal_retries: int = 5
    old_gc_behavior: bool = False
    label_selector: LabelSelector = field(default=_match_all)


@dataclass(frozen=True, slots=True)
class _Outcome:
    result: SyncResult
    event_reason: str
    note: str
    metric_reason: Literal["", "unseal", "update", "unmanaged"] = ""
    retry: bool = True


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class SealingReconciler:
    """The runtime's ``Reconcile`` for SealedSecret keys (call it with ``namespace/name``)."""

    def __init__(
        self,
        client: AsyncClient,
        keyring: KeyRing,
        *,
        find: Callable[[str], Any | None],
        unseal: Unseal,
        events: EventRecorder,
        metrics: SealingMetrics,
        options: ReconcileOptions = ReconcileOptions(),
        clock: Callable[[], datetime.datetime] = _now,
    ) -> None:
        """``find(key)`` returns the cached SealedSecret (None: it does not exist)."""
        self.client = client
        self.keyring = keyring
        self.options = options
        self._find = find
        self._unseal = unseal
        self._events = events
        self._metrics = metrics
        self._clock = clock
        self._done: dict[str, tuple[str, int, int]] = {}
        self._epochs: dict[str, int] = {}
        self._failures: dict[str, tuple[tuple[str, int, int], int]] = {}
        self._reported: dict[str, tuple[tuple[str, int, int], SyncResult]] = {}
        self._uids: dict[str, str] = {}

    def reset(self) -> None:
        """Forget what was synced: a new leadership term unseals every SealedSecret once."""
        self._done.clear()
        self._failures.clear()
        self._reported.clear()

    def forget(self, key: str) -> None:
        """The owned Secret of ``key`` was deleted: unseal and write it again."""
        self._epochs[key] = self._epochs.get(key, 0) + 1

    async def __call__(self, key: str) -> float | None:
        namespace, _, name = key.partition("/")
        obj = self._find(key)
        if obj is None:
            await self._gone(key, namespace, name)
            return None
        manifest = sealed_secret_manifest(obj)
        meta: Mapping[str, Any] = manifest.get("metadata") or {}
        if not self.options.label_selector(meta.get("labels") or {}):
            return None
        uid, generation = str(meta.get("uid", "")), int(meta.get("generation") or 0)
        mark = (uid, generation, self._epochs.get(key, 0))
        if self._done.get(key) == mark:
            return None
        self._uids[key] = uid
        self._metrics.unseal_requests_total.inc()
        outcome = await self._sync(manifest, namespace, name, uid)
        await self._report(key, mark, manifest, outcome)
        if outcome.result.ok:
            self._done[key] = mark
            self._failures.pop(key, None)
            return None
        self._metrics.error(outcome.metric_reason or "update", namespace)
        previous, count = self._failures.get(key, (mark, 0))
        count = count + 1 if previous == mark else 1
        self._failures[key] = (mark, count)
        if not outcome.retry or count > self.options.max_unseal_retries:
            self._done[key] = mark  # given up until the next trigger
            return None
        raise RetryUnseal(f"{key}: {outcome.result.reason}")

    async def _gone(self, key: str, namespace: str, name: str) -> None:
        """The SealedSecret was deleted: garbage collection removes the Secret (ownerReference);
        with ``--old-gc-behavior`` the controller deletes the Secret it controlled itself."""
        self._metrics.forget(namespace, name)
        self._done.pop(key, None)
        self._failures.pop(key, None)
        self._reported.pop(key, None)
        uid = self._uids.pop(key, None)
        if not self.options.old_gc_behavior:
            return
        existing = await self._read_secret(namespace, name)
        ref = controller_of((existing or {}).get("metadata") or {})
        if ref is None or ref.get("kind") != SEALED_SECRET_KIND:
            return
        if uid is not None and ref.get("uid") != uid:
            return
        try:
            with kube_errors():
                await self.client.delete(Secret, name, namespace=namespace)
        except KubeNotFound:
            return

    async def _read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            with kube_errors():
                secret = await self.client.get(Secret, name, namespace=namespace)
        except KubeNotFound:
            return None
        return secret.to_dict()

    async def _sync(
        self, manifest: dict[str, Any], namespace: str, name: str, uid: str
    ) -> _Outcome:
        try:
            unsealed = await asyncio.to_thread(self._unseal, manifest, self.keyring.open)
        except UnsealError as exc:
            reason = str(getattr(exc, "reason", "") or type(exc).__name__)
            return _Outcome(
                SyncResult(False, reason, str(exc)),
                ERR_UNSEAL_FAILED,
                f"Failed to unseal: {exc}",
                "unseal",
            )
        desired = desired_secret(_encoded(unsealed), manifest["metadata"])
        existing = await self._read_secret(namespace, name)
        plan = plan_write(existing, desired, owner_uid=uid)
        if plan.action == "foreign":
            message = foreign_message(name)
            return _Outcome(
                SyncResult(False, "ForeignSecret", message), ERR_UPDATE_FAILED, message, "unmanaged"
            )
        try:
            with kube_errors():
                if plan.action == "create":
                    await self.client.create(cast(Secret, Secret.from_dict(plan.body or {})))
                elif plan.action == "update":
                    await self.client.replace(cast(Secret, Secret.from_dict(plan.body or {})))
        except KubeError as exc:
            if _IMMUTABLE_API_TEXT in str(exc):
                message = (
                    f'Secret "{name}" cannot be updated: the target Secret is immutable. You can '
                    "only delete and recreate the Secret."
                )
                return _Outcome(
                    SyncResult(False, "Immutable", message),
                    ERR_UPDATE_FAILED,
                    message,
                    "update",
                    retry=False,
                )
            message = f'Secret "{name}" could not be written: {exc}'
            return _Outcome(SyncResult(False, "UpdateFailed", message), ERR_UPDATE_FAILED, message)
        return _Outcome(SyncResult(True, UNSEALED), EVENT_UNSEALED, _SUCCESS_NOTE)

    async def _report(
        self, key: str, mark: tuple[str, int, int], manifest: dict[str, Any], outcome: _Outcome
    ) -> None:
        meta: Mapping[str, Any] = manifest["metadata"]
        namespace, name = str(meta["namespace"]), str(meta["name"])
        if self._reported.get(key) != (mark, outcome.result):
            self._reported[key] = (mark, outcome.result)
            await self._events.record(
                Regarding(SEALED_SECRET_API_VERSION, SEALED_SECRET_KIND, name, namespace, mark[0]),
                type="Normal" if outcome.result.ok else "Warning",
                reason=outcome.event_reason,
                action="Unseal" if outcome.event_reason != ERR_UPDATE_FAILED else "Update",
                note=outcome.note,
            )
            level = logging.INFO if outcome.result.ok else logging.WARNING
            _log.log(level, "%s: %s %s", key, outcome.event_reason, outcome.note)
        if not self.options.update_status:
            return
        status = next_status(
            manifest.get("status"), outcome.result, generation=mark[1], now=self._clock()
        )
        if status is None:
            self._metrics.observe_conditions(manifest)
            return
        try:
            with kube_errors():
                await patch_status(self.client, SealedSecret, name, status, namespace=namespace)
        except KubeError as exc:
            self._metrics.error("status", namespace)
            _log.warning("%s: could not write status: %s", key, exc)
            return
        self._metrics.observe_conditions({**manifest, "status": status})


def _encoded(secret: Mapping[str, Any]) -> dict[str, Any]:
    """``secret`` with ``data`` as the API's base64 text (bytes values encoded)."""
    out = dict(secret)
    data = out.get("data")
    if data:
        out["data"] = {
            k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in data.items()
        }
    return out
