"""An informer: one list+watch of a resource into an in-memory cache that feeds keys to handlers.

Reconcilers read the cache instead of the apiserver, and every change anywhere in the watched
set turns into a ``namespace/name`` key for the work queue (principle 0: the key is all a worker
needs; it re-reads the current object). The cache is replaced by every (re)list, and keys that
vanished between two lists are announced too, so a deletion missed during a 410 is not lost.

The ``labels``/``fields`` selectors go to the apiserver: objects outside them are never
listed, watched or cached, and one that leaves the selection is announced like a deletion.
With ``metadata_only`` the informer lists and watches ``PartialObjectMetadata``: the cache holds
:class:`~sealbox.kube.ObjectMetadata`, and no object's body (a Secret's ``data``) crosses the
wire. Metadata is not always harmless: ``kubectl apply`` keeps the whole manifest it applied,
values included, in an annotation; a subclass that must not keep that overrides the hooks below.

What is kept and which keys are announced is decided by two hooks, ``_replace`` (a relist) and
``_apply`` (one watch event); a subclass overrides them to keep less or announce less, and
inherits the one list/watch/relist/backoff loop.

Errors other than 410 resume the watch from the last version seen after a jittered backoff;
the informer runs until its task is cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from lightkube import AsyncClient

from sealbox.errors import KubeGone
from sealbox.kube.runtime.backoff import Backoff
from sealbox.kube.runtime.watch import (
    EventType,
    FieldSelector,
    LabelSelector,
    list_objects,
    object_key,
    object_version,
    watch_from,
)

__all__ = ["Informer"]

_log = logging.getLogger(__name__)
_ERROR_BACKOFF = Backoff(base_seconds=0.2, max_seconds=30.0)


class Informer:
    """A cache of ``resource`` (in ``namespace``, or all; only what the selectors match) kept
    current by list+watch; of its metadata alone with ``metadata_only``."""

    def __init__(
        self,
        client: AsyncClient,
        resource: type,
        *,
        namespace: str | None = None,
        watch_timeout_seconds: int = 300,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
        metadata_only: bool = False,
    ) -> None:
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.metadata_only = metadata_only
        self.watch_timeout_seconds = watch_timeout_seconds
        self.relists = 0
        self.synced = asyncio.Event()
        self._cache: dict[str, Any] = {}
        self._handlers: list[Callable[[str], None]] = []

    def subscribe(self, handler: Callable[[str], None]) -> Callable[[], None]:
        """Call ``handler(key)`` on every change; returns the function that unsubscribes."""
        self._handlers.append(handler)
        return lambda: self._handlers.remove(handler)

    def get(self, key: str) -> Any | None:
        """The cached object for ``key`` (None: it does not exist, as far as the watch knows)."""
        return self._cache.get(key)

    def cached_keys(self) -> list[str]:
        return sorted(self._cache)

    async def run(self) -> None:
        """List, watch, relist on 410, until cancelled."""
        failures = 0
        version: str | None = None
        while True:
            try:
                if version is None:
                    version = await self._relist()
                async for event in watch_from(
                    self.client,
                    self.resource,
                    namespace=self.namespace,
                    resource_version=version,
                    timeout_seconds=self.watch_timeout_seconds,
                    labels=self.labels,
                    fields=self.fields,
                    metadata_only=self.metadata_only,
                ):
                    failures = 0
                    self._announce(self._apply(event.type, event.obj))
                    version = object_version(event.obj) or version
            except KubeGone:
                _log.info("watch of %s expired; listing again", self.resource.__name__)
                version = None
            except Exception as exc:  # any transport or API failure: back off, resume
                failures += 1
                delay = _ERROR_BACKOFF.delay(failures)
                _log.warning(
                    "watch of %s failed (%s); retrying in %.1fs",
                    self.resource.__name__,
                    type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)

    async def _relist(self) -> str:
        result = await list_objects(
            self.client,
            self.resource,
            namespace=self.namespace,
            labels=self.labels,
            fields=self.fields,
            metadata_only=self.metadata_only,
        )
        announce = self._replace(result.objects)
        self.relists += 1
        self.synced.set()
        self._announce(announce)
        return result.resource_version

    def _replace(self, objects: list[Any]) -> Iterable[str]:
        """Hook: a relist's ``objects`` become the cache; returns the keys to announce (every
        listed key, and every cached key that is gone), after ``synced`` is set."""
        fresh = {object_key(obj): obj for obj in objects}
        gone = set(self._cache) - set(fresh)
        self._cache = fresh
        return sorted(gone | set(fresh))

    def _apply(self, kind: EventType, obj: Any) -> Iterable[str]:
        """Hook: one watch event goes into the cache; returns the keys to announce."""
        key = object_key(obj)
        if kind == "DELETED":
            self._cache.pop(key, None)
        else:
            self._cache[key] = obj
        return (key,)

    def _announce(self, keys: Iterable[str]) -> None:
        for key in keys:
            for handler in list(self._handlers):
                handler(key)
