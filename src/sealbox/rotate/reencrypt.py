"""Re-encrypt every object of the rotated resources through the API: a no-op update of each.

Once every apiserver writes with the new key (the promote stage), an update that changes nothing
still rewrites a value read with any other provider or key: the apiserver skips an unchanged
write only when the stored value was not stale (kms-spec §1.5). So each object is listed (pages of
500, all namespaces) and PUT back exactly as read, its ``resourceVersion`` as the precondition::

    200, new resourceVersion   rewritten with the first provider/key
    200, same resourceVersion  it was current already (nothing written)
    409 Conflict               someone wrote it since; that write used the new key: done. The
                               concurrent writer always wins: we never retry with a newer body
    404 Not Found              deleted since the list: done
    429, 5xx, no connection    retried with backoff (the client's transport first, then here)
    anything else              failed: its name and the HTTP status, never a value

Updates run ``concurrency`` at a time and every request waits for a token of a ``qps`` bucket.
Nothing of an object but its kind, namespace, name and resourceVersion is ever looked at outside
the request body, and no body is logged.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

import httpx2
from lightkube import AsyncClient

from sealbox.errors import (
    InputError,
    KubeConflict,
    KubeError,
    KubeGone,
    KubeNotFound,
    KubeUnavailable,
)
from sealbox.kube import FIELD_MANAGER, kube_errors
from sealbox.rotate.api_resources import ApiResource, discover, failure_reason, get_json, http_of
from sealbox.rotate.throttle import TokenBucket

__all__ = [
    "PAGE_SIZE",
    "ReencryptProgress",
    "ReencryptResult",
    "ResourceTally",
    "reencrypt_via_api",
]

_LOG = logging.getLogger(__name__)
_T = TypeVar("_T")
_JITTER = random.SystemRandom()
PAGE_SIZE = 500
_ATTEMPTS = 5  # per object, on top of the transport's own retries
_RELISTS = 3  # a list whose continue token expired (410) starts over at most this often
# The updated object comes back as its metadata alone where the apiserver can (no value sent).
_PUT_ACCEPT = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json"


@dataclass
class ResourceTally:
    """What happened to the objects of one resource. ``failed`` holds ``namespace/name: why``."""

    listed: int = 0
    rewritten: int = 0
    unchanged: int = 0
    conflicts: int = 0
    gone: int = 0
    failed: list[str] = field(default_factory=list)
    listing_done: bool = False

    @property
    def done(self) -> int:
        return self.rewritten + self.unchanged + self.conflicts + self.gone + len(self.failed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "listed": self.listed,
            "rewritten": self.rewritten,
            "unchanged": self.unchanged,
            "conflicts": self.conflicts,
            "gone": self.gone,
            "failed": list(self.failed),
        }


@dataclass
class ReencryptResult:
    """Per resource (``secrets``, ``deployments.apps``) tallies, and the patterns not served."""

    per_resource: dict[str, ResourceTally] = field(default_factory=dict)
    unserved: tuple[str, ...] = ()

    def _sum(self, name: str) -> int:
        return sum(int(getattr(tally, name)) for tally in self.per_resource.values())

    @property
    def listed(self) -> int:
        return self._sum("listed")

    @property
    def rewritten(self) -> int:
        return self._sum("rewritten")

    @property
    def unchanged(self) -> int:
        return self._sum("unchanged")

    @property
    def conflicts(self) -> int:
        return self._sum("conflicts")

    @property
    def gone(self) -> int:
        return self._sum("gone")

    @property
    def failed(self) -> list[str]:
        """``<resource> <namespace>/<name>: <status>`` of every object not re-encrypted."""
        return [f"{name} {item}" for name, t in self.per_resource.items() for item in t.failed]

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        return {
            "listed": self.listed,
            "rewritten": self.rewritten,
            "unchanged": self.unchanged,
            "conflicts": self.conflicts,
            "gone": self.gone,
            "failed": self.failed,
            "unserved": list(self.unserved),
            "resources": {name: t.as_dict() for name, t in self.per_resource.items()},
        }


@dataclass(frozen=True, slots=True)
class ReencryptProgress:
    """A snapshot for a progress line: per resource ``(done, listed so far)``, the totals."""

    per_resource: Mapping[str, tuple[int, int]]
    resources_done: int
    resources_total: int
    done: int
    listed: int
    rewritten: int
    conflicts: int
    gone: int
    failed: int
    elapsed: float
    finished: bool = False


@dataclass(frozen=True, slots=True)
class _Job:
    api: ApiResource
    body: dict[str, Any] = field(repr=False)  # the object as listed: never shown
    namespace: str | None
    name: str
    resource_version: str


class _Run:
    """One re-encryption: the shared bucket, tallies and progress reporting."""

    def __init__(
        self,
        http: httpx2.AsyncClient,
        qps: float,
        result: ReencryptResult,
        progress: Callable[[ReencryptProgress], None] | None,
        every: float,
    ) -> None:
        self.http = http
        self.bucket = TokenBucket(qps)
        self.result = result
        self.progress = progress
        self.every = every
        self.started = time.monotonic()
        self._last = 0.0

    def report(self, *, force: bool = False, finished: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        self._last = now
        tallies = self.result.per_resource
        self.progress(
            ReencryptProgress(
                per_resource=MappingProxyType({n: (t.done, t.listed) for n, t in tallies.items()}),
                resources_done=sum(t.listing_done and t.done == t.listed for t in tallies.values()),
                resources_total=len(tallies),
                done=sum(t.done for t in tallies.values()),
                listed=self.result.listed,
                rewritten=self.result.rewritten,
                conflicts=self.result.conflicts,
                gone=self.result.gone,
                failed=len(self.result.failed),
                elapsed=now - self.started,
                finished=finished,
            )
        )

    async def list_into(self, api: ApiResource, queue: asyncio.Queue[_Job | None]) -> None:
        """Queue every object of ``api``, page by page; a failed list is recorded as failed."""
        tally = self.result.per_resource[api.name]
        seen: set[tuple[str | None, str]] = set()
        for _ in range(_RELISTS + 1):
            try:
                await self._pages(api, queue, seen)
            except KubeGone:
                _LOG.info("%s: the list's continue token expired; listing again", api.name)
                continue
            except KubeError as exc:
                tally.failed.append(f"(list): {failure_reason(exc)}")
            break
        else:
            tally.failed.append("(list): the continue token kept expiring")
        tally.listing_done = True
        self.report(force=True)

    async def _pages(
        self, api: ApiResource, queue: asyncio.Queue[_Job | None], seen: set[tuple[str | None, str]]
    ) -> None:
        tally = self.result.per_resource[api.name]
        params = {"limit": str(PAGE_SIZE)}
        while True:
            await self.bucket.take()
            page = await _retrying(
                lambda: get_json(self.http, api.collection_path(), params=params)
            )
            for item in page.get("items") or []:
                meta = item.get("metadata") or {}
                place = (meta.get("namespace"), str(meta.get("name", "")))
                if place in seen:  # listed again after a 410: already queued
                    continue
                seen.add(place)
                item["apiVersion"], item["kind"] = api.api_version, api.kind
                tally.listed += 1
                version = str(meta.get("resourceVersion", ""))
                await queue.put(_Job(api, item, place[0], place[1], version))
            token = str((page.get("metadata") or {}).get("continue") or "")
            if not token:
                return
            params["continue"] = token

    async def worker(self, queue: asyncio.Queue[_Job | None]) -> None:
        while (job := await queue.get()) is not None:
            tally = self.result.per_resource[job.api.name]
            where = f"{job.namespace}/{job.name}" if job.namespace else job.name
            try:
                version = await _retrying(functools.partial(self._put, job))
            except KubeConflict:
                tally.conflicts += 1
            except KubeNotFound:
                tally.gone += 1
            except KubeError as exc:
                tally.failed.append(f"{where}: {failure_reason(exc)}")
            else:
                if version and version == job.resource_version:
                    tally.unchanged += 1
                else:
                    tally.rewritten += 1
            self.report()

    async def _put(self, job: _Job) -> str:
        """PUT the object back unchanged; the resourceVersion it has afterwards."""
        await self.bucket.take()
        content = json.dumps(job.body, separators=(",", ":")).encode()
        with kube_errors():
            response = await self.http.put(
                job.api.object_path(job.namespace, job.name),
                content=content,
                params={"fieldManager": FIELD_MANAGER},
                headers={"Content-Type": "application/json", "Accept": _PUT_ACCEPT},
            )
            response.raise_for_status()
        try:
            meta = json.loads(response.content).get("metadata") or {}
        except (ValueError, AttributeError):
            return ""
        return str(meta.get("resourceVersion", ""))


async def _retrying(call: Callable[[], Awaitable[_T]]) -> _T:
    """``call()`` again after a KubeUnavailable (429, 5xx, no connection), with backoff."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            return await call()
        except KubeUnavailable:
            if attempt == _ATTEMPTS:
                raise
            await asyncio.sleep(_JITTER.uniform(0.5, 1.0) * min(10.0, 0.5 * 2**attempt))
    raise AssertionError("unreachable")  # pragma: no cover


async def reencrypt_via_api(
    client: AsyncClient,
    resources: Sequence[str],
    *,
    concurrency: int = 8,
    qps: float = 200.0,
    progress: Callable[[ReencryptProgress], None] | None = None,
    progress_every: float = 1.0,
) -> ReencryptResult:
    """Rewrite every object of the resources ``resources`` (config patterns) cover; see the
    module docstring. Objects that failed are in the result, which says ``ok`` when none did.

    Raises:
        InputError: ``concurrency`` below 1 or ``qps`` not positive.
        KubeError: discovery failed (nothing was rewritten).
    """
    if concurrency < 1:
        raise InputError(f"--concurrency must be at least 1, not {concurrency}")
    if not qps > 0:
        raise InputError(f"--qps must be positive, not {qps}")
    found = await _retrying(lambda: discover(client, resources, verbs=("list", "update")))
    result = ReencryptResult({api.name: ResourceTally() for api in found.resources}, found.unserved)
    run = _Run(http_of(client), qps, result, progress, progress_every)
    queue: asyncio.Queue[_Job | None] = asyncio.Queue(maxsize=concurrency * 4)

    async def produce() -> None:
        for api in found.resources:
            await run.list_into(api, queue)
        for _ in range(concurrency):
            await queue.put(None)

    # One task for the lists and one per worker: if any of them fails, gather raises at once
    # and the rest are cancelled, so a lost worker never leaves the lists waiting on a queue.
    tasks = [asyncio.create_task(produce())]
    tasks += [asyncio.create_task(run.worker(queue)) for _ in range(concurrency)]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
    run.report(force=True, finished=True)
    return result
