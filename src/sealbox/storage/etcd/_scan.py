"""Paged prefix reads for the etcd client: one snapshot, one page in memory.

Each page is a Range of ``[start, prefix_end(prefix))`` with ``limit`` keys; the next page
starts right after the last key (``last + b"\\x00"``) and is read at the revision of the first
page, so the whole scan is one consistent snapshot. The limit starts at ``page_size`` and
follows the observed bytes per key so that a page stays under half of ``max_response_bytes``;
an answer that is still too large halves it and asks again. The next page is requested as soon
as a page arrives, so the caller's work on one page overlaps the network wait for the next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypedDict, TypeVar

from sealbox._proto import etcd_kv_pb2 as pb
from sealbox.errors import EtcdResponseTooLarge, InputError
from sealbox.storage.etcd._messages import key_revision, key_value
from sealbox.storage.etcd._transport import RANGE, Transport, show_key
from sealbox.storage.kv import KeyRevision, KeyValue, prefix_end

__all__ = ["DEFAULT_PAGE_SIZE", "KEYS_ONLY", "WITH_VALUES", "PrefixScan", "ScanOptions", "Shape"]

DEFAULT_PAGE_SIZE = 5000
"""Keys per page: large, because etcd walks its index over the whole remaining range per page."""

_T = TypeVar("_T", bound=KeyRevision)


class ScanOptions(TypedDict, total=False):
    """Where a scan starts and how: ``page_size`` keys a page (default
    :data:`DEFAULT_PAGE_SIZE`), the keys after ``start_after``, at ``revision`` (default: the
    first page's)."""

    page_size: int
    start_after: bytes | None
    revision: int | None


@dataclass(frozen=True, slots=True)
class Shape(Generic[_T]):
    """What a scan yields per key: ``keys_only`` asks etcd to leave the values out."""

    keys_only: bool
    convert: Callable[[pb.KeyValue], _T]


WITH_VALUES: Shape[KeyValue] = Shape(keys_only=False, convert=key_value)
KEYS_ONLY: Shape[KeyRevision] = Shape(keys_only=True, convert=key_revision)


class PrefixScan(Generic[_T]):
    """The keys under a prefix, ascending, fetched a page at a time at one revision.

    Iterate it once. ``revision`` is the snapshot revision (set by the first page unless one
    was asked for), ``pages`` how many pages were fetched, ``last_key`` the last key yielded
    (resume from it with ``start_after`` after :class:`EtcdCompacted`).
    """

    def __init__(
        self,
        transport: Transport,
        prefix: bytes,
        shape: Shape[_T],
        options: ScanOptions,
        *,
        max_response_bytes: int,
    ) -> None:
        page_size = options.get("page_size", DEFAULT_PAGE_SIZE)
        start_after = options.get("start_after")
        revision = options.get("revision")
        if page_size < 1:
            raise InputError(f"page size must be at least 1, not {page_size}")
        if revision is not None and revision < 1:
            raise InputError(f"an etcd revision is at least 1, not {revision}")
        self.prefix = prefix
        self.revision = revision
        self.pages = 0
        self.last_key: bytes | None = None
        self._transport = transport
        self._page_size = page_size
        self._keys_only = shape.keys_only
        self._convert = shape.convert
        self._budget = max_response_bytes // 2
        start = prefix or b"\x00"
        if start_after is not None:
            start = max(start, start_after + b"\x00")
        self._items = self._walk(start, prefix_end(prefix))

    def __iter__(self) -> PrefixScan[_T]:
        return self

    def __next__(self) -> _T:
        return next(self._items)

    def __repr__(self) -> str:
        return (
            f"PrefixScan(prefix={self.prefix!r}, revision={self.revision}, pages={self.pages}, "
            f"last_key={self.last_key!r})"
        )

    def _walk(self, start: bytes, end: bytes) -> Iterator[_T]:
        if end != b"\x00" and start >= end:
            return
        # One page is always in flight while the caller works through the previous one: the
        # wait for etcd overlaps with decoding, classifying or decrypting (the transport is
        # thread-safe, and the grpc wait releases the GIL).
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="etcd-prefetch")
        try:
            pending = pool.submit(self._fetch, start, end, self._page_size)
            while True:
                response, limit = pending.result()
                if self.revision is None:
                    self.revision = response.header.revision
                self.pages += 1
                kvs = response.kvs
                more = bool(response.more and kvs)
                if more:
                    per_key = max(1, response.ByteSize() // len(kvs))
                    limit = max(1, min(self._page_size, self._budget // per_key))
                    pending = pool.submit(self._fetch, kvs[-1].key + b"\x00", end, limit)
                for kv in kvs:
                    self.last_key = kv.key
                    yield self._convert(kv)
                if not more:
                    return
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _fetch(self, start: bytes, end: bytes, limit: int) -> tuple[pb.RangeResponse, int]:
        """One page at the scan's revision; halves ``limit`` while the answer is too large."""
        while True:
            request = pb.RangeRequest(
                key=start,
                range_end=end,
                limit=limit,
                revision=self.revision or 0,
                keys_only=self._keys_only,
            )
            try:
                return self._transport.read(
                    RANGE, request, about=f" from key {show_key(start)}"
                ), limit
            except EtcdResponseTooLarge:
                if limit == 1:
                    raise
                limit = max(1, limit // 2)
