"""List, then watch from the list's resourceVersion; ``KubeGone`` when that version is too old.

lightkube's watch already resumes from the last resourceVersion it saw when the server closes a
watch (``timeoutSeconds``) or the connection drops. What it does on ``410 Gone`` is restart
without a version, which replays the current objects as ADDED but never says which ones were
deleted meanwhile. So here a 410 is raised as :class:`~sealbox.errors.KubeGone` and the caller
(the informer) relists and compares, the way client-go's reflector does.

Both take lightkube's ``labels``/``fields`` selectors and hand them to the apiserver, so a
controller only ever receives the objects it is meant for. With a label selector the apiserver
also reports an object relabelled out of the selection as ``DELETED``: for the watcher it is gone.

Bookmarks are not requested: lightkube's watch does not pass ``allowWatchBookmarks``. Without
them a quiet watch may come back with an old version and get a 410, which costs one relist.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from lightkube import AsyncClient
from lightkube.core.client import FieldValue, LabelValue
from lightkube.core.generic_client import ALL_NS, ListAsyncIterable
from lightkube.core.resource import NamespacedResourceG

from sealbox.kube.errors import kube_errors

__all__ = [
    "FieldSelector",
    "LabelSelector",
    "ListResult",
    "WatchEvent",
    "list_objects",
    "object_key",
    "watch_from",
]

EventType = Literal["ADDED", "MODIFIED", "DELETED"]
_TYPES: frozenset[str] = frozenset({"ADDED", "MODIFIED", "DELETED"})

#: lightkube's label selector: ``{"app": "web"}`` (=), ``{"app": None}`` (exists), an iterable
#: (in), or an operator from :mod:`lightkube.operators` (``not_equal``, ``not_in``,
#: ``not_exists``...); the requirements are ANDed. lightkube's ``build_selector`` also takes
#: them as a list of ``(key, value)`` pairs, which can hold two requirements on one key
#: (``a!=x,a!=y``); that form is passed through as it is.
LabelSelector = Mapping[str, LabelValue] | Sequence[tuple[str, LabelValue]]
#: lightkube's field selector: ``{"metadata.name": "x"}``, ``not_equal``/``not_in`` operators.
FieldSelector = Mapping[str, FieldValue]


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: EventType
    obj: Any


@dataclass(frozen=True, slots=True)
class ListResult:
    objects: list[Any]
    resource_version: str


def object_key(obj: Any) -> str:
    """``namespace/name`` (``name`` for cluster-scoped objects): the work queue's key."""
    meta = obj.metadata
    return f"{meta.namespace}/{meta.name}" if meta.namespace else str(meta.name)


def _where(resource: type, namespace: str | None) -> str | None:
    """lightkube's namespace argument for "in ``namespace``, or everywhere when None".

    lightkube reads None on a namespaced resource as the kubeconfig's default namespace, not
    as every namespace; ``ALL_NS`` asks for all of them.
    """
    if namespace is None and issubclass(resource, NamespacedResourceG):
        return ALL_NS
    return namespace


def _selectors(labels: LabelSelector | None, fields: FieldSelector | None) -> dict[str, Any]:
    """lightkube's keyword arguments (a dict or a list of pairs; empty means no selector)."""
    label_pairs = (
        (dict(labels) if isinstance(labels, Mapping) else list(labels)) if labels else None
    )
    return {"labels": label_pairs, "fields": dict(fields) if fields else None}


async def list_objects(
    client: AsyncClient,
    resource: type,
    *,
    namespace: str | None,
    labels: LabelSelector | None = None,
    fields: FieldSelector | None = None,
) -> ListResult:
    """Every object of ``resource`` (in ``namespace``; every namespace when None) that the
    selectors match, and the version the list was taken at.

    Raises:
        KubeError: the list failed (typed as :mod:`sealbox.kube.errors` maps it).
    """
    listing: ListAsyncIterable[Any] = client.list(
        resource,
        namespace=_where(resource, namespace),
        chunk_size=500,
        **_selectors(labels, fields),
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
) -> AsyncIterator[WatchEvent]:
    """Changes after ``resource_version`` to the objects the selectors match, forever (the
    server's timeouts are reconnected). An object that stops matching arrives as ``DELETED``.

    Raises:
        KubeGone: the version is no longer available (compacted or outside the watch cache).
        KubeError: any other failure (typed as :mod:`sealbox.kube.errors` maps it); resume
            from the last version seen.
    """
    stream = client.watch(
        cast(Any, resource),
        namespace=_where(resource, namespace),
        resource_version=resource_version,
        server_timeout=timeout_seconds,
        **_selectors(labels, fields),
    )
    with kube_errors():
        async for kind, obj in stream:
            if kind in _TYPES:
                yield WatchEvent(cast(EventType, kind), obj)
