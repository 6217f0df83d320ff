"""Which owned Secrets were deleted: the trigger that recreates them (``--skip-recreate`` off).

Upstream watches every Secret with a full informer, so the controller holds every Secret's
values in memory and receives them on every change. Recreating needs far less: only the
*metadata* of Secrets, and only deletions. So this lists and watches Secrets as
``PartialObjectMetadata`` (the apiserver never sends ``data``), keeps just the keys of the
Secrets the controller would recreate (controlled by the same-named SealedSecret, or annotated
``managed``), and announces a key when such a Secret is DELETED. Other changes are not
announced: upstream does not revert edits made by others either.

It is an :class:`~sealbox.kube.runtime.Informer` to the runtime (subscribe, synced, run) so the
controller's queue takes its keys like any other. A 410 relists and announces owned keys that
vanished meanwhile, so a deletion missed while the watch was down still recreates.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx2
from lightkube import AsyncClient
from lightkube.resources.core_v1 import Secret

from sealbox.controllers.sealing.secrets import is_owned
from sealbox.errors import KubeError, KubeGone
from sealbox.kube import kube_errors
from sealbox.kube.runtime import Backoff, Informer

__all__ = ["OwnedSecretDeletions"]

_log = logging.getLogger(__name__)
_LIST_ACCEPT = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
_WATCH_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
_ERROR_BACKOFF = Backoff(base_seconds=0.2, max_seconds=30.0)
_PAGE = "500"


class OwnedSecretDeletions(Informer):
    """Announces ``namespace/name`` when an owned Secret is deleted (metadata only, no values).

    ``on_deleted(key)`` runs before the key is announced, so the reconciler can forget that it
    had synced that SealedSecret.
    """

    def __init__(
        self,
        client: AsyncClient,
        *,
        namespace: str | None = None,
        on_deleted: Callable[[str], None] | None = None,
        watch_timeout_seconds: int = 300,
    ) -> None:
        super().__init__(
            client, Secret, namespace=namespace, watch_timeout_seconds=watch_timeout_seconds
        )
        self._on_deleted = on_deleted
        self._owned: set[str] = set()

    def cached_keys(self) -> list[str]:
        return []  # the SealedSecrets' informer resyncs those keys; nothing to add here

    def get(self, key: str) -> Any | None:
        return None  # no Secret is cached: reconcile reads the one it needs

    @property
    def owned(self) -> frozenset[str]:
        return frozenset(self._owned)

    def _path(self) -> str:
        if self.namespace is None:
            return "/api/v1/secrets"
        return f"/api/v1/namespaces/{self.namespace}/secrets"

    def _http(self) -> httpx2.AsyncClient:
        http: object = self.client._client._client
        if not isinstance(http, httpx2.AsyncClient):  # pragma: no cover - lightkube changed
            raise TypeError("lightkube.AsyncClient no longer keeps an httpx2.AsyncClient inside")
        return http

    async def run(self) -> None:
        failures = 0
        version: str | None = None
        while True:
            try:
                if version is None:
                    version = await self._list()
                async for event_type, meta in self._watch(version):
                    failures = 0
                    version = str(meta.get("resourceVersion") or version)
                    if event_type != "BOOKMARK":
                        self._change(event_type, meta)
            except KubeGone:
                _log.info("watch of Secret metadata expired; listing again")
                version = None
            except (KubeError, ValueError) as exc:
                failures += 1
                delay = _ERROR_BACKOFF.delay(failures)
                _log.warning("watch of Secret metadata failed (%s); retry in %.1fs", exc, delay)
                await asyncio.sleep(delay)

    async def _list(self) -> str:
        http = self._http()
        params = {"limit": _PAGE}
        fresh: set[str] = set()
        version = ""
        while True:
            with kube_errors():
                response = await http.get(
                    self._path(), params=params, headers={"Accept": _LIST_ACCEPT}
                )
                response.raise_for_status()
            body = json.loads(response.content)
            if not isinstance(body, dict) or body.get("kind") != "PartialObjectMetadataList":
                raise KubeError("GET Secrets: the apiserver did not answer with metadata only")
            for item in body.get("items") or ():
                meta = item.get("metadata") or {}
                if is_owned(meta):
                    fresh.add(_key(meta))
            page = body.get("metadata") or {}
            version = str(page.get("resourceVersion") or version)
            if not page.get("continue"):
                break
            params["continue"] = str(page["continue"])
        gone = self._owned - fresh
        self._owned = fresh
        self.relists += 1
        self.synced.set()
        for key in sorted(gone):
            self._deleted(key)
        return version

    async def _watch(self, version: str) -> Any:
        params = {
            "watch": "true",
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(self.watch_timeout_seconds),
        }
        timeout = httpx2.Timeout(10.0, read=self.watch_timeout_seconds + 30.0)
        with kube_errors():
            async with self._http().stream(
                "GET",
                self._path(),
                params=params,
                headers={"Accept": _WATCH_ACCEPT},
                timeout=timeout,
            ) as response:
                if response.status_code == 410:
                    raise KubeGone("watch of Secret metadata: resourceVersion too old", status=410)
                response.raise_for_status()
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    kind, obj = event.get("type"), event.get("object") or {}
                    if kind == "ERROR":
                        code = int(obj.get("code") or 0)
                        if code == 410:
                            raise KubeGone("watch of Secret metadata expired", status=410)
                        raise KubeError(f"watch of Secret metadata: {obj.get('message')}")
                    yield str(kind), obj.get("metadata") or {}

    def _change(self, event_type: str, meta: Mapping[str, Any]) -> None:
        key = _key(meta)
        if event_type == "DELETED":
            if key in self._owned or is_owned(meta):
                self._owned.discard(key)
                self._deleted(key)
        elif is_owned(meta):
            self._owned.add(key)
        else:
            self._owned.discard(key)

    def _deleted(self, key: str) -> None:
        if self._on_deleted is not None:
            self._on_deleted(key)
        self._notify(key)


def _key(meta: Mapping[str, Any]) -> str:
    return f"{meta.get('namespace')}/{meta.get('name')}"
