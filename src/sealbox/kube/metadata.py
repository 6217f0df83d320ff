"""Enumerating objects by their metadata alone, so a tool can list Secrets without their values.

The apiserver answers a list with ``Accept: application/json;as=PartialObjectMetadataList;
g=meta.k8s.io;v=v1`` with each object's ``metadata`` and nothing else: a Secret's ``data`` never
leaves the apiserver. No fallback media type is offered, so an apiserver that cannot do this
answers 406 instead of sending whole objects; an answer of any other kind is refused too.

Lists are paged (``limit``/``continue``), each page one request through the client's retrying
transport; a ``continue`` token that has expired (410) surfaces as KubeGone: list again.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2
from lightkube import AsyncClient, Client
from lightkube.core.resource import GlobalResource, NamespacedResource, Resource, api_info

from sealbox.errors import KubeError
from sealbox.kube.errors import describe_request, kube_errors

__all__ = [
    "METADATA_LIST_ACCEPT",
    "MetadataPage",
    "ObjectMetadata",
    "list_metadata",
    "list_metadata_async",
    "metadata_pages",
    "metadata_pages_async",
]

METADATA_LIST_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
DEFAULT_PAGE = 500  # kubectl's --chunk-size


@dataclass(frozen=True, slots=True)
class ObjectMetadata:
    """What a list says of one object without reading it."""

    name: str
    namespace: str | None
    uid: str
    resource_version: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


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
    label_selector: str | None = None,
    limit: int = DEFAULT_PAGE,
) -> Iterator[MetadataPage]:
    """Pages of ``resource``'s metadata in ``namespace`` (None: every namespace)."""
    http = _http(client)
    path, params = _request(resource, namespace, label_selector, limit)
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
    label_selector: str | None = None,
    limit: int = DEFAULT_PAGE,
) -> Iterator[ObjectMetadata]:
    """Every object's metadata, page after page (see :func:`metadata_pages`)."""
    for page in metadata_pages(
        client, resource, namespace=namespace, label_selector=label_selector, limit=limit
    ):
        yield from page.items


async def metadata_pages_async(
    client: AsyncClient,
    resource: type[Resource],
    *,
    namespace: str | None = None,
    label_selector: str | None = None,
    limit: int = DEFAULT_PAGE,
) -> AsyncIterator[MetadataPage]:
    """:func:`metadata_pages` for the async client."""
    http = _async_http(client)
    path, params = _request(resource, namespace, label_selector, limit)
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
    label_selector: str | None = None,
    limit: int = DEFAULT_PAGE,
) -> AsyncIterator[ObjectMetadata]:
    """:func:`list_metadata` for the async client."""
    async for page in metadata_pages_async(
        client, resource, namespace=namespace, label_selector=label_selector, limit=limit
    ):
        for item in page.items:
            yield item


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


def _request(
    resource: type[Resource], namespace: str | None, label_selector: str | None, limit: int
) -> tuple[str, dict[str, str]]:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    info = api_info(resource)
    base = info.parent or info.resource
    parts = ["api", base.version] if not base.group else ["apis", base.group, base.version]
    if namespace is not None:
        if issubclass(resource, GlobalResource) or not issubclass(resource, NamespacedResource):
            raise ValueError(f"{info.resource.kind} is not namespaced; pass no namespace")
        parts += ["namespaces", namespace]
    params = {"limit": str(limit)}
    if label_selector:
        params["labelSelector"] = label_selector
    return "/" + "/".join([*parts, info.plural]), params


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
    )
