"""One open provider per store, validated once, reused by every ExternalSecret that names it.

:meth:`StoreRegistry.open` turns an ExternalSecret's ``secretStoreRef`` into an
:class:`~sealbox.controllers.sync.open_store.OpenStore`: it finds the store in the informer's
cache, checks its spec (:func:`~sealbox.sync.parse_store`) and, for a ClusterSecretStore, its
``conditions`` against the ExternalSecret's namespace, then opens the provider and validates it
(logs in) once. The result is kept per :func:`~sealbox.controllers.sync.open_store.store_key`
until the store's ``uid`` or ``metadata.generation`` changes (then the old provider is closed,
revoking its token) or :meth:`StoreRegistry.invalidate` drops it. What fails raises
:class:`StoreNotReady` with ESO's reason.

No login storm: concurrent opens of one store share one attempt, and a failed attempt is not
repeated before its backoff (doubling from 1 s to 5 min) has passed; opens meanwhile fail at once
with the same reason. :meth:`StoreRegistry.report` judges the store's ``Ready`` condition from what
opening it showed, and :mod:`.store_status` (which also holds ESO's reasons and
:class:`StoreNotReady`) writes it, with an Event, only when it changed. :mod:`.store_context` reads
the Secrets and ServiceAccount tokens a store references.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from lightkube import AsyncClient

from sealbox.controllers.sync.open_store import OpenStore, store_key
from sealbox.controllers.sync.store_context import (
    all_refs_namespaced,
    object_refs,
    store_context,
)
from sealbox.controllers.sync.store_status import (
    INVALID_PROVIDER_CONFIG,
    INVALID_STORE_CONFIGURATION,
    NAMESPACE_NOT_ALLOWED,
    STORE_MISSING,
    STORE_VALID,
    VALID_CONDITION,
    VALIDATION_FAILED,
    StoreMetrics,
    StoreNotReady,
    StoreStatus,
    store_identity,
    store_label,
)
from sealbox.errors import ConfigError, ProviderError
from sealbox.kube.runtime import Condition, EventRecorder
from sealbox.sync import StoreKind, StoreRef, StoreSpec, SyncSpecError, parse_store, store_allows
from sealbox.sync.providers import Provider, open_provider

__all__ = [
    "BACKOFF_MAX",
    "BACKOFF_MIN",
    "INVALID_PROVIDER_CONFIG",
    "INVALID_STORE_CONFIGURATION",
    "NAMESPACE_NOT_ALLOWED",
    "STORE_MISSING",
    "STORE_VALID",
    "VALIDATION_FAILED",
    "StoreMetrics",
    "StoreNotReady",
    "StoreRegistry",
]

_log = logging.getLogger(__name__)

BACKOFF_MIN = 1.0
"""Seconds before a store whose open failed is tried again; doubles at each failure."""
BACKOFF_MAX = 300.0
"""The longest wait between two attempts to open a failing store."""


FindStore = Callable[[StoreKind, str | None, str], object | None]
"""The informer cache's store object (a dict or lightkube generic resource), or None."""


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _as_dict(obj: object) -> Mapping[str, Any]:
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return cast(Mapping[str, Any], to_dict())
    return cast(Mapping[str, Any], obj)


async def _validate(provider_name: str, provider: Provider) -> None:
    """Log in now, so a wrong credential shows on the store rather than at the first read.

    A provider with a ``validate()`` coroutine is asked; the vault provider (which logs in on
    first use) through its token session; others are validated by their first read.
    """
    validate = getattr(provider, "validate", None)
    if callable(validate):
        await validate()
        return
    session = getattr(provider, "session", None) if provider_name == "vault" else None
    token = getattr(session, "token", None)
    if callable(token):
        await token()


async def _close_quietly(provider: Provider, label: str) -> None:
    try:
        await provider.close()
    except Exception as exc:  # closing must not stop closing the others
        _log.warning("%s: closing the provider failed: %s", label, type(exc).__name__)


@dataclass(slots=True)
class _Failure:
    identity: tuple[str, int]
    error: StoreNotReady
    at: float
    retry_at: float
    backoff: float


@dataclass(frozen=True, slots=True)
class _Attempt:
    identity: tuple[str, int]
    task: asyncio.Task[OpenStore]


def _retrieve(task: asyncio.Task[OpenStore]) -> None:
    if not task.cancelled():
        task.exception()  # waiters may all be gone; the error is theirs, not the loop's


class StoreRegistry:
    """SecretStores and ClusterSecretStores opened for the sync controller; see the module."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        find_store: FindStore,
        namespace_labels: Callable[[str], Mapping[str, str] | None],
        events: EventRecorder,
        metrics: StoreMetrics,
        clock: Callable[[], datetime.datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        backoff_min: float = BACKOFF_MIN,
        backoff_max: float = BACKOFF_MAX,
    ) -> None:
        self.client = client
        self._find_store = find_store
        self._namespace_labels = namespace_labels
        self._status = StoreStatus(client, events=events, metrics=metrics, clock=clock)
        self._monotonic = monotonic
        self._backoff_min = backoff_min
        self._backoff_max = backoff_max
        self._entries: dict[str, OpenStore] = {}
        self._failures: dict[str, _Failure] = {}
        self._attempts: dict[str, _Attempt] = {}
        self._closed = False

    @property
    def stores(self) -> tuple[OpenStore, ...]:
        """The stores open now."""
        return tuple(self._entries.values())

    async def open(self, ref: StoreRef, es_namespace: str) -> OpenStore:
        """The open store ``ref`` names for an ExternalSecret of ``es_namespace``.

        Raises:
            StoreNotReady: missing, invalid, not allowed from ``es_namespace``, or its provider
                could not be opened or validated (recently: backing off).
        """
        namespace = None if ref.kind is StoreKind.CLUSTER_SECRET_STORE else es_namespace
        return await self._open(ref.kind, namespace, ref.name, es_namespace, admit=True)

    async def _open(
        self, kind: StoreKind, namespace: str | None, name: str, es_namespace: str, *, admit: bool
    ) -> OpenStore:
        if self._closed:
            raise RuntimeError("the store registry is closed")
        key = store_key(kind, namespace, name, es_namespace)
        label = store_label(kind, namespace, name)
        while True:
            found = self._find_store(kind, namespace, name)
            if found is None:
                raise StoreNotReady(STORE_MISSING, f"{label} not found")
            obj = _as_dict(found)
            identity = store_identity(obj)
            entry = self._entries.get(key)
            current = entry is not None and (entry.uid, entry.generation) == identity
            if entry is not None and not current:
                await self._drop(key)
            spec = entry.spec if entry is not None and current else self._parse(obj, namespace)
            if admit:
                self._admit(kind, name, spec, es_namespace)
            if entry is not None and current:
                return entry
            attempt = self._attempts.get(key)
            if attempt is not None:
                if attempt.identity == identity:
                    return await asyncio.shield(attempt.task)
                with contextlib.suppress(StoreNotReady):  # an attempt for the store as it was
                    await asyncio.shield(attempt.task)
                continue
            failure = self._failures.get(key)
            now = self._monotonic()
            if failure is not None and failure.identity == identity and now < failure.retry_at:
                error = failure.error
                raise StoreNotReady(error.reason, error.message, retry_after=failure.retry_at - now)
            task = asyncio.get_running_loop().create_task(
                self._attempt(key, label, kind, namespace, name, es_namespace, identity, spec),
                name=f"open {key}",
            )
            task.add_done_callback(_retrieve)
            self._attempts[key] = _Attempt(identity, task)
            return await asyncio.shield(task)

    @staticmethod
    def _parse(obj: Mapping[str, Any], namespace: str | None) -> StoreSpec:
        """The checked spec; a SecretStore referencing another namespace is refused (ESO)."""
        try:
            spec = parse_store(obj)
        except SyncSpecError as exc:
            raise StoreNotReady(INVALID_STORE_CONFIGURATION, str(exc)) from None
        if spec.kind is StoreKind.SECRET_STORE:
            where = f"spec.provider.{spec.provider_name}"
            for path, asked in object_refs(spec.provider_spec, where):
                if asked and asked != namespace:
                    raise StoreNotReady(
                        INVALID_STORE_CONFIGURATION,
                        f"{store_label(spec.kind, namespace, str(obj['metadata']['name']))}: "
                        f'{path}.namespace: "{asked}" is not allowed: a SecretStore may only '
                        f'reference Secrets of its own namespace "{namespace}"',
                    )
        return spec

    def _admit(self, kind: StoreKind, name: str, spec: StoreSpec, es_namespace: str) -> None:
        if kind is not StoreKind.CLUSTER_SECRET_STORE or not spec.conditions:
            return
        labels = self._namespace_labels(es_namespace) or {}
        if not store_allows(spec.conditions, es_namespace, labels):
            raise StoreNotReady(
                NAMESPACE_NOT_ALLOWED,
                f'using cluster store "{name}" is not allowed from namespace "{es_namespace}": '
                "denied by spec.condition",
            )

    async def _attempt(
        self,
        key: str,
        label: str,
        kind: StoreKind,
        namespace: str | None,
        name: str,
        es_namespace: str,
        identity: tuple[str, int],
        spec: StoreSpec,
    ) -> OpenStore:
        """One try at opening and validating the store; its outcome is remembered."""
        try:
            context = store_context(self.client, label, kind, namespace, es_namespace)
            try:
                provider = await open_provider({spec.provider_name: spec.provider_spec}, context)
            except ConfigError as exc:
                raise self._failed(key, identity, INVALID_PROVIDER_CONFIG, str(exc)) from None
            try:
                await _validate(spec.provider_name, provider)
            except (ProviderError, ConfigError) as exc:
                await _close_quietly(provider, label)
                raise self._failed(key, identity, VALIDATION_FAILED, str(exc)) from None
            except BaseException:
                await _close_quietly(provider, label)
                raise
            entry = OpenStore(
                key=key,
                kind=kind,
                name=name,
                namespace=namespace,
                uid=identity[0],
                generation=identity[1],
                spec=spec,
                provider_name=spec.provider_name,
                provider=provider,
                label=label,
            )
            if self._closed:
                await _close_quietly(provider, label)
                raise StoreNotReady(VALIDATION_FAILED, f"{label}: the controller is stopping")
            self._entries[key] = entry
            self._failures.pop(key, None)
            _log.info("%s: opened (%s provider) for %s", label, spec.provider_name, key)
            return entry
        finally:
            self._attempts.pop(key, None)

    def _failed(
        self, key: str, identity: tuple[str, int], reason: str, message: str
    ) -> StoreNotReady:
        previous = self._failures.get(key)
        backoff = self._backoff_min
        if previous is not None and previous.identity == identity:
            backoff = min(self._backoff_max, max(self._backoff_min, previous.backoff * 2))
        now = self._monotonic()
        error = StoreNotReady(reason, message, retry_after=backoff)
        self._failures[key] = _Failure(identity, error, now, now + backoff, backoff)
        _log.warning("%s (%s); next try in %.0fs", message, reason, backoff)
        return error

    async def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            await _close_quietly(entry.provider, entry.label)
            _log.info("%s: closed (%s)", entry.label, key)

    def _keys(self, kind: StoreKind, namespace: str | None, name: str) -> set[str]:
        known = {*self._entries, *self._failures, *self._attempts}
        if kind is StoreKind.CLUSTER_SECRET_STORE:
            prefix = f"{kind.value}/{name}@"
            return {key for key in known if key.startswith(prefix)}
        key = store_key(kind, namespace, name, namespace or "")
        return {key} & known

    async def invalidate(
        self, kind: StoreKind, namespace: str | None, name: str
    ) -> tuple[str, ...]:
        """The store changed or was deleted: close and forget it (every namespace's entry of a
        ClusterSecretStore, and any remembered failure). Returns the keys dropped, for the
        reader's and the budget's ``forget_store``."""
        keys = self._keys(kind, namespace, name)
        for attempt in [self._attempts[key] for key in keys if key in self._attempts]:
            with contextlib.suppress(Exception):
                await asyncio.shield(attempt.task)
        for key in sorted(keys):
            self._failures.pop(key, None)
            await self._drop(key)
        if self._find_store(kind, namespace, name) is None:
            self._status.forget(kind, namespace, name)
        return tuple(sorted(keys))

    async def close(self) -> None:
        """Close every provider (tokens we logged in for are revoked). Idempotent; opens during
        the close are refused, later ones open afresh (a new leadership term)."""
        self._closed = True
        try:
            for attempt in list(self._attempts.values()):
                with contextlib.suppress(BaseException):
                    await asyncio.shield(attempt.task)
            for key in sorted(self._entries):
                await self._drop(key)
            self._failures.clear()
        finally:
            self._closed = False

    async def _judge(
        self, kind: StoreKind, namespace: str | None, name: str, obj: Mapping[str, Any]
    ) -> Condition:
        """The store's Ready condition from what opening it showed (opening it if need be)."""
        try:
            spec = self._parse(obj, namespace)
            if kind is StoreKind.SECRET_STORE:
                await self._open(kind, namespace, name, namespace or "", admit=False)
                return VALID_CONDITION
            identity = store_identity(obj)
            keys = self._keys(kind, namespace, name)
            if any(
                (e.uid, e.generation) == identity for k, e in self._entries.items() if k in keys
            ):
                return VALID_CONDITION
            failures = [f for k, f in self._failures.items() if k in keys]
            failures = [f for f in failures if f.identity == identity]
            if failures:
                error = max(failures, key=lambda failure: failure.at).error
                return Condition("Ready", "False", error.reason, error.message)
            if all_refs_namespaced(spec.provider_spec):  # no ExternalSecret namespace needed
                await self._open(kind, None, name, "", admit=False)
            # Otherwise its credentials come from each ExternalSecret's namespace: unknown until
            # one opens it, which ESO too reports as valid.
            return VALID_CONDITION
        except StoreNotReady as exc:
            return Condition("Ready", "False", exc.reason, exc.message)

    async def report(self, kind: StoreKind, namespace: str | None, name: str) -> None:
        """Write the store's ``Ready`` condition (and record an Event) when it changed; update
        the ``*secretstore_status_condition`` series. A store gone from the cache is forgotten."""
        found = self._find_store(kind, namespace, name)
        if found is None:
            self._status.forget(kind, namespace, name)
            return
        obj = _as_dict(found)
        condition = await self._judge(kind, namespace, name, obj)
        await self._status.write(kind, namespace, name, obj, condition)
