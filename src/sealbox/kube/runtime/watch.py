"""List, then watch from the list's resourceVersion; ``KubeGone`` when that version is too old.

lightkube's watch already resumes from the last resourceVersion it saw when the server closes a
watch (``timeoutSeconds``) or the connection drops. What it does on ``410 Gone`` is restart
without a version, which replays the current objects as ADDED but never says which ones were
deleted meanwhile. So here a 410 is raised as :class:`~sealbox.errors.KubeGone` and the caller
(the informer) relists and compares, the way client-go's reflector does.

Both take lightkube's ``labels``/``fields`` selectors and hand them to the apiserver, so a
controller only ever receives the objects it is meant for. With a label selector the apiserver
also reports an object relabelled out of the selection as ``DELETED``: for the watcher it is gone.

With ``metadata_only`` both go through :mod:`sealbox.kube.metadata` instead: the objects are
:class:`~sealbox.kube.ObjectMetadata` (``PartialObjectMetadata`` on the wire), so a Secret's
values never reach the caller, and the same 410/selector rules hold.

Bookmarks are not requested of lightkube's watch: it does not pass ``allowWatchBookmarks``.
Without them a quiet watch may come back with an old version and get a 410, which costs one
relist. The metadata watch does request them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal, cast

from lightkube import AsyncClient
from lightkube.core.generic_client import ALL_NS, ListAsyncIterable
from lightkube.core.resource import NamespacedResourceG, Resource

from sealbox.kube.errors import kube_errors
from sealbox.kube.metadata import ObjectMetadata, metadata_pages_async, watch_metadata_async
from sealbox.kube.selectors import FieldSelector, LabelSelector, lightkube_selectors

__all__ = [
    "FieldSelector",
    "LabelSelector",
    "ListResult",
    "WatchEvent",
    "list_objects",
    "object_key",
    "object_version",
    "watch_from",
]

EventType = Literal["ADDED", "MODIFIED", "DELETED"]
_TYPES: frozenset[str] = frozenset({"ADDED", "MODIFIED", "DELETED"})


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: EventType
    obj: Any


@dataclass(frozen=True, slots=True)
class ListResult:
    objects: list[Any]
    resource_version: str


def object_key(obj: Any) -> str:
    """``namespace/name`` (``name`` for cluster-scoped objects): the work queue's key, of a
    lightkube object or of an :class:`~sealbox.kube.ObjectMetadata`."""
    meta = obj if isinstance(obj, ObjectMetadata) else obj.metadata
    return f"{meta.namespace}/{meta.name}" if meta.namespace else str(meta.name)


def object_version(obj: Any) -> str:
    """The object's ``resourceVersion`` ("" when it has none)."""
    if isinstance(obj, ObjectMetadata):
        return obj.resource_version
    return str(obj.metadata.resourceVersion or "")


def _where(resource: type, namespace: str | None) -> str | None:
    """lightkube's namespace argument for "in ``namespace``, or everywhere when None".

    lightkube reads None on a namespaced resource as the kubeconfig's default namespace, not
    as every namespace; ``ALL_NS`` asks for all of them.
    """
    if namespace is None and issubclass(resource, NamespacedResourceG):
        return ALL_NS
    return namespace


async def list_objects(
    client: AsyncClient,
    resource: type,
    *,
    namespace: str | None,
    labels: LabelSelector | None = None,
    fields: FieldSelector | None = None,
    metadata_only: bool = False,
) -> ListResult:
    """Every object of ``resource`` (in ``namespace``; every namespace when None) that the
    selectors match, and the version the list was taken at; with ``metadata_only``, only each
    object's :class:`~sealbox.kube.ObjectMetadata`.

    Raises:
        KubeError: the list failed (typed as :mod:`sealbox.kube.errors` maps it).
    """
    if metadata_only:
        items: list[Any] = []
        version = ""
        pages = metadata_pages_async(
            client,
            cast(type[Resource], resource),
            namespace=namespace,
            labels=labels,
            fields=fields,
        )
        async for page in pages:
            items += page.items
            version = page.resource_version
        return ListResult(items, version)
    listing: ListAsyncIterable[Any] = client.list(
        resource,
        namespace=_where(resource, namespace),
        chunk_size=500,
        **lightkube_selectors(labels, fields),
    )
    with kube_errors():
        objects = [obj async for obj in listing]
    return ListResult(objects, listing.resourceVersion)


async def watch_from(
    client: AsyncClient,
    resource: type,
    *,
    namespace: str | None,
    resource_version: str,
    timeout_seconds: int = 300,
    labels: LabelSelector | None = None,
    fields: FieldSelector | None = None,
    metadata_only: bool = False,
) -> AsyncIterator[WatchEvent]:
    """Changes after ``resource_version`` to the objects the selectors match, forever (the
    server's timeouts are reconnected). An object that stops matching arrives as ``DELETED``.
    With ``metadata_only`` each event's object is its :class:`~sealbox.kube.ObjectMetadata`.

    Raises:
        KubeGone: the version is no longer available (compacted or outside the watch cache).
        KubeError: any other failure (typed as :mod:`sealbox.kube.errors` maps it); resume
            from the last version seen.
    """
    if metadata_only:
        changes = watch_metadata_async(
            client,
            cast(type[Resource], resource),
            namespace=namespace,
            resource_version=resource_version,
            timeout_seconds=timeout_seconds,
            labels=labels,
            fields=fields,
        )
        async for change in changes:
            yield WatchEvent(change.type, change.metadata)
        return
    stream = client.watch(
        cast(Any, resource),
        namespace=_where(resource, namespace),
        resource_version=resource_version,
        server_timeout=timeout_seconds,
        **lightkube_selectors(labels, fields),
    )
    with kube_errors():
        async for kind, obj in stream:
            if kind in _TYPES:
                yield WatchEvent(cast(EventType, kind), obj)
