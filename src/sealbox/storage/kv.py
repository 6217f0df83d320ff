"""The key-value store the offline jobs work over: paged snapshot reads and compare-and-swap.

:class:`KeyValueReader` and :class:`KeyValueStore` are what :mod:`sealbox.ops` needs from a store,
nothing more; :class:`sealbox.storage.etcd.EtcdClient` implements them over gRPC, and the tests
use an in-memory store that keeps the same revision rules. Those rules are etcd's:

* Every write txn bumps the store's ``revision`` by one; each key it writes gets that revision as
  its ``mod_revision`` (and as ``create_revision`` when the key is new) and ``version`` + 1.
* A missing key has ``mod_revision`` 0, so an expected revision of 0 means "create".
* :meth:`KeyValueStore.compare_and_swap` is all or nothing. When a compare fails nothing is
  written, and :class:`TxnResult` carries every key's current value, read atomically with it.
* :meth:`KeyValueReader.iter_prefix` reads one snapshot (:attr:`PrefixRead.revision`) in key
  order, so writes that land during the read do not show.

Also here, free of grpc and protobuf: the values those calls take and return (:class:`KeyValue`,
:class:`KeyRevision`, :class:`CasWrite`, :class:`TxnResult`), key-range arithmetic
(:func:`prefix_end`, :func:`registry_prefix`) and txn batching (:func:`plan_batches`). ``value``
fields are secrets: no repr here shows them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sealbox.errors import InputError
from sealbox.storage.keys import DEFAULT_PREFIX, normalize_prefix

__all__ = [
    "DEFAULT_TXN_BYTES",
    "MAX_TXN_OPS",
    "CasWrite",
    "KeyRevision",
    "KeyValue",
    "KeyValueReader",
    "KeyValueStore",
    "PrefixRead",
    "TxnResult",
    "plan_batches",
    "prefix_end",
    "registry_prefix",
]

MAX_TXN_OPS = 128
"""etcd's default ``--max-txn-ops``: at most this many puts (and compares) in one txn."""
DEFAULT_TXN_BYTES = 1024 * 1024
"""A batch budget safely below etcd's default ``--max-request-bytes`` (1.5 MiB)."""


def prefix_end(prefix: bytes) -> bytes:
    """The first key after every key starting with ``prefix`` (etcd's ``range_end``).

    The last byte that is not ``0xff`` is incremented and the rest dropped; ``b"\\x00"`` (etcd's
    "to the end of the keyspace") when there is none, e.g. for ``b""``.
    """
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\x00"
    return stripped[:-1] + bytes([stripped[-1] + 1])


def registry_prefix(etcd_prefix: str = DEFAULT_PREFIX) -> bytes:
    """The key prefix of everything kube-apiserver stores under ``--etcd-prefix``.

    ``/registry`` -> ``b"/registry/"`` (the trailing slash keeps ``/registry-x/...`` out).
    """
    base = normalize_prefix(etcd_prefix)
    return (base if base.endswith("/") else base + "/").encode()


@dataclass(frozen=True, slots=True)
class KeyRevision:
    """A key and its revisions (a keys-only read: there is no value to misuse)."""

    key: bytes
    mod_revision: int
    create_revision: int
    version: int


@dataclass(frozen=True, slots=True, repr=False)
class KeyValue(KeyRevision):
    """A key, its revisions and its raw stored value (never shown in a repr)."""

    value: bytes

    def __repr__(self) -> str:
        return (
            f"KeyValue(key={self.key!r}, mod_revision={self.mod_revision}, "
            f"create_revision={self.create_revision}, version={self.version}, "
            f"value=<{len(self.value)} bytes>)"
        )


@dataclass(frozen=True, slots=True)
class CasWrite:
    """Put ``value`` at ``key`` if its ``mod_revision`` is still ``expected_mod_revision``."""

    key: bytes
    value: bytes = field(repr=False)
    expected_mod_revision: int


@dataclass(frozen=True, slots=True)
class TxnResult:
    """What a compare-and-swap txn did.

    ``succeeded``: every compare held and every put was applied, all at ``revision`` (each
    written key's new ``mod_revision``). Otherwise nothing was written, ``revision`` is the
    store's revision at the time, ``current`` holds every key's KeyValue then (``None`` if it
    did not exist) and ``conflicts`` lists, in request order, the keys whose ``mod_revision``
    differed from the expected one.
    """

    succeeded: bool
    revision: int
    current: Mapping[bytes, KeyValue | None] = field(default_factory=dict)
    conflicts: tuple[bytes, ...] = ()


def plan_batches(
    items: Iterable[CasWrite], *, max_ops: int = MAX_TXN_OPS, max_bytes: int = DEFAULT_TXN_BYTES
) -> Iterator[list[CasWrite]]:
    """Group writes into txn-sized batches: at most ``max_ops`` writes and about ``max_bytes``.

    A single write larger than ``max_bytes`` gets a batch of its own (etcd may still refuse it
    with :class:`EtcdRequestTooLarge`).
    """
    if not 1 <= max_ops <= MAX_TXN_OPS:
        raise InputError(f"max_ops must be between 1 and {MAX_TXN_OPS}, not {max_ops}")
    batch: list[CasWrite] = []
    size = 0
    for item in items:
        cost = len(item.value) + 3 * len(item.key) + 48
        if batch and (len(batch) >= max_ops or size + cost > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += cost
    if batch:
        yield batch


class PrefixRead(Protocol):
    """The key-values under a prefix, ascending, all read at one snapshot revision.

    Iterate it once. ``revision`` is that snapshot's revision: known once the first page has
    been read (``None`` before, unless the read was pinned to one).
    """

    @property
    def revision(self) -> int | None: ...

    def __iter__(self) -> Iterator[KeyValue]: ...


class KeyValueReader(Protocol):
    """Paged snapshot reads of every key under a prefix."""

    def iter_prefix(self, prefix: bytes, *, start_after: bytes | None = None) -> PrefixRead:
        """Every key starting with ``prefix`` and sorting after ``start_after``, with values.

        Raises:
            BackendUnavailable: the store did not answer.
            EtcdCompacted: the snapshot was compacted mid-read; resume after the last key seen.
        """
        ...

    def count_prefix(self, prefix: bytes) -> int:
        """How many keys start with ``prefix`` now."""
        ...


class KeyValueStore(KeyValueReader, Protocol):
    """A reader that also writes, each write guarded by the key's ``mod_revision``."""

    def compare_and_swap(self, writes: Sequence[CasWrite], /) -> TxnResult:
        """One txn: every put if every key's ``mod_revision`` is as expected, else none.

        At most :data:`MAX_TXN_OPS` writes, each key once (see :class:`TxnResult`).
        """
        ...

    def cas_put(self, key: bytes, value: bytes, expected_mod_revision: int) -> TxnResult:
        """Put ``value`` only if ``key``'s mod_revision is still the expected one (0: absent)."""
        ...
