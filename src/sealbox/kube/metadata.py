"""Listing and watching objects by their metadata alone, so Secrets are followed without values.

The apiserver answers a list with ``Accept: application/json;as=PartialObjectMetadataList;
g=meta.k8s.io;v=v1`` (a watch with ``as=PartialObjectMetadata``, as client-go's metadata
informer asks) with each object's ``metadata`` and nothing else: a Secret's ``data`` never
leaves the apiserver. No fallback media type is offered, so an apiserver that cannot do this
answers 406 instead of sending whole objects; an answer of any other kind is refused too.

Lists are paged (``limit``/``continue``), each page one request through the client's retrying
transport; a ``continue`` token that has expired (410) surfaces as KubeGone: list again. A watch
starts from a list's ``resourceVersion``, reconnects the server's timeouts from the last version
it saw (bookmarks included), and raises KubeGone when that version is too old, so the caller
relists, as :mod:`sealbox.kube.runtime.watch` does for whole objects. Selectors take lightkube's
form (:mod:`sealbox.kube.selectors`) and go to the apiserver.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import httpx2
from lightkube import AsyncClient, Client
from lightkube.core.resource import GlobalResource, NamespacedResource, Resource, api_info

from sealbox.errors import KubeError, KubeGone
from sealbox.kube.errors import describe_request, kube_errors
from sealbox.kube.selectors import FieldSelector, LabelSelector, selector_params

__all__ = [
    "METADATA_LIST_ACCEPT",
    "METADATA_WATCH_ACCEPT",
    "MetadataEvent",
    "MetadataPage",
    "ObjectMetadata",
    "list_metadata",
    "list_metadata_async",
    "metadata_pages",
    "metadata_pages_async",
    "watch_metadata_async",
]

METADATA_LIST_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
METADATA_WATCH_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
DEFAULT_PAGE = 500  # kubectl's --chunk-size
_EVENT_TYPES: frozenset[str] = frozenset({"ADDED", "MODIFIED", "DELETED"})


@dataclass(frozen=True, slots=True)
class ObjectMetadata:
    """What a list says of one object without reading it."""

    name: str
    namespace: str | None
    uid: str
    resource_version: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    owner_references: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class MetadataEvent:
    """One change a metadata watch saw: ``ADDED``, ``MODIFIED`` or ``DELETED``, and the object's
    metadata (as it was when deleted, for ``DELETED``)."""

    type: Literal["ADDED", "MODIFIED", "DELETED"]
    metadata: ObjectMetadata


@dataclass(frozen=True, slots=True)
class MetadataPage:
    """One page: its objects, the list's ``resourceVersion`` (to watch from after the last page),
    and the ``continue`` token of the next page ("" on the last)."""

    items: tuple[ObjectMetadata, ...]
    resource_version: str
    continue_token: str


def metadata_pages(
    client: Client,
    resource: type[Resource],
    *,
    namespace: str | None = None,
    labels: LabelSelector | None = None,
    fields: FieldSelector | None = None,
    limit: int = DEFAULT_PAGE,
) -> Iterator[MetadataPage]:
    """Pages of ``resource``'s metadata in ``namespace`` (None: every namespace) that the
    selectors match."""
    http = _http(client)
    path, params = _path(resource, namespace), _list_params(labels, fields, limit)
    while True:
        with kube_errors():
            response = http.get(path, params=params, headers={"Accept": METADATA_LIST_ACCEPT})
            response.raise_for_status()
        page = _page(response)
        yield page
        if not page.continue_token:
            return
        params["continue"] = page.continue_token


def list_metadata(
    client: Client,
    resource: type[Resource],
    *,
    namespace: str | None = None,
    labels: LabelSelector | None = None,
    fields: FieldSelector | None = None,
    limit: int = DEFAULT_PAGE,
) -> Iterator[ObjectMetadata]:
    """Every object's metadata, page after page (see :func:`metadata_pages`)."""
    for page in metadata_pages(
        client, resource, namespace=namespace, labels=labels, fields=fields, limit=limit
    ):
        yield from page.items


async def metadata_pages_async(
    client: AsyncClient,
    resource: type[Resource],
    *,
    namespace: str | None = None,
    labels: LabelSelector | None = None,
    fields: FieldSelector | None = None,
    limit: int = DEFAULT_PAGE,
) -> AsyncIterator[MetadataPage]:
    """:func:`metadata_pages` for the async client."""
    http = _async_http(client)
    path, params = _path(resource, namespace), _list_params(labels, fields, limit)
    while True:
        with kube_errors():
            response = await http.get(path, params=params, headers={"Accept": METADATA_LIST_ACCEPT})
            response.raise_for_status()
        page = _page(response)
        yield page
        if not page.continue_token:
            return
        params["continue"] = page.continue_token


async def list_metadata_async(
    client: AsyncClient,
    resource: type[Resource],
    *,
    namespace: str | None = None,
    labels: LabelSelector | None = None,
    fields: FieldSelector | None = None,
    limit: int = DEFAULT_PAGE,
) -> AsyncIterator[ObjectMetadata]:
    """:func:`list_metadata` for the async client."""
    async for page in metadata_pages_async(
        client, resource, namespace=namespace, labels=labels, fields=fields, limit=limit
    ):
        for item in page.items:
            yield item


async def watch_metadata_async(
    client: AsyncClient,
    resource: type[Resource],
    *,
    namespace: str | None = None,
    resource_version: str,
    timeout_seconds: int = 300,
    labels: LabelSelector | None = None,
    fields: FieldSelector | None = None,
) -> AsyncIterator[MetadataEvent]:
    """Changes after ``resource_version`` to the metadata of the objects the selectors match,
    forever: each server timeout (``timeout_seconds``) reconnects from the last version seen.
    An object that stops matching a label selector arrives as ``DELETED``.

    Raises:
        KubeGone: the version is no longer available (compacted or outside the watch cache):
            list again.
        KubeError: any other failure; resume from the last version seen.
    """
    http = _async_http(client)
    path = _path(resource, namespace)
    base = selector_params(labels, fields)
    # The server ends the watch after timeout_seconds; a read that waits longer is a dead link.
    timeout = httpx2.Timeout(http.timeout.connect, read=timeout_seconds + 30.0)
    version = resource_version
    while True:
        params = {
            **base,
            "watch": "1",
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        with kube_errors():
            async with http.stream(
                "GET",
                path,
                params=params,
                headers={"Accept": METADATA_WATCH_ACCEPT},
                timeout=timeout,
            ) as response:
                if response.is_error:
                    await response.aread()  # the Status, so the error says what the server said
                    response.raise_for_status()
                where = describe_request(response.request)
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    kind, meta = _event(line, where)
                    version = meta.resource_version or version
                    if kind in _EVENT_TYPES:
                        yield MetadataEvent(cast(Any, kind), meta)


def _http(client: Client) -> httpx2.Client:
    """The httpx2 client inside ``client`` (lightkube 1.0 keeps it there), so a metadata list
    shares its connection pool, auth and retrying transport; lightkube has no call that sends
    an Accept header of the caller's choosing."""
    http = client._client._client
    if not isinstance(http, httpx2.Client):  # pragma: no cover - lightkube changed its insides
        raise TypeError("lightkube.Client no longer keeps an httpx2.Client in _client._client")
    return http


def _async_http(client: AsyncClient) -> httpx2.AsyncClient:
    http: object = client._client._client
    if not isinstance(http, httpx2.AsyncClient):  # pragma: no cover - as _http
        raise TypeError("lightkube.AsyncClient no longer keeps an httpx2.AsyncClient inside")
    return http


def _path(resource: type[Resource], namespace: str | None) -> str:
    info = api_info(resource)
    base = info.parent or info.resource
    parts = ["api", base.version] if not base.group else ["apis", base.group, base.version]
    if namespace is not None:
        if issubclass(resource, GlobalResource) or not issubclass(resource, NamespacedResource):
            raise ValueError(f"{info.resource.kind} is not namespaced; pass no namespace")
        parts += ["namespaces", namespace]
    return "/" + "/".join([*parts, info.plural])


def _list_params(
    labels: LabelSelector | None, fields: FieldSelector | None, limit: int
) -> dict[str, str]:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    return {"limit": str(limit), **selector_params(labels, fields)}


def _page(response: httpx2.Response) -> MetadataPage:
    where = describe_request(response.request)
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        raise KubeError(f"{where}: the answer is not JSON", status=response.status_code) from None
    if not isinstance(body, dict) or body.get("kind") != "PartialObjectMetadataList":
        kind = body.get("kind") if isinstance(body, dict) else type(body).__name__
        raise KubeError(
            f"{where}: the apiserver answered {kind}, not PartialObjectMetadataList",
            status=response.status_code,
        )
    meta = body.get("metadata") or {}
    return MetadataPage(
        items=tuple(_item(entry.get("metadata") or {}) for entry in body.get("items") or ()),
        resource_version=str(meta.get("resourceVersion") or ""),
        continue_token=str(meta.get("continue") or ""),
    )


def _item(meta: dict[str, Any]) -> ObjectMetadata:
    return ObjectMetadata(
        name=str(meta.get("name", "")),
        namespace=meta.get("namespace"),
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        labels=meta.get("labels") or {},
        annotations=meta.get("annotations") or {},
        owner_references=tuple(meta.get("ownerReferences") or ()),
    )


def _event(line: str, where: str) -> tuple[str, ObjectMetadata]:
    """One watch line: its type and the object's metadata (a BOOKMARK's carries only the
    version); an ERROR event is raised as its error."""
    try:
        event: Any = json.loads(line)
    except ValueError:
        raise KubeError(f"{where}: a watch event is not JSON") from None
    kind = str(event.get("type")) if isinstance(event, dict) else ""
    obj = (event.get("object") if isinstance(event, dict) else None) or {}
    if kind == "ERROR":
        code, reason = int(obj.get("code") or 0), str(obj.get("reason") or "")
        said = f"{code} {reason}".strip() + f": {obj.get('message') or 'no detail'}"
        if code == 410:
            raise KubeGone(
                f"{where}: watch gone ({said}); the resourceVersion is too old: list again",
                status=code,
                reason=reason,
            )
        raise KubeError(f"{where}: the watch failed ({said})", status=code, reason=reason)
    if kind in _EVENT_TYPES and obj.get("kind") != "PartialObjectMetadata":
        raise KubeError(
            f"{where}: the apiserver sent {obj.get('kind') or 'no kind'}, not PartialObjectMetadata"
        )
    return kind, _item(obj.get("metadata") or {})
