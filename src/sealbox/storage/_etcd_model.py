"""The values :mod:`sealbox.storage.etcd` hands out and takes: keys, revisions, txn batches.

Kept free of grpc so callers can build batches and read results without the transport.
``value`` fields are secrets: no repr here shows them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from sealbox._proto import etcd_kv_pb2 as pb
from sealbox.errors import InputError
from sealbox.storage.keys import DEFAULT_PREFIX, normalize_prefix

__all__ = [
    "DEFAULT_TXN_BYTES",
    "MAX_TXN_OPS",
    "CasWrite",
    "KeyRevision",
    "KeyValue",
    "TxnResult",
    "key_revision",
    "key_value",
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


def key_value(kv: pb.KeyValue) -> KeyValue:
    return KeyValue(
        key=kv.key,
        mod_revision=kv.mod_revision,
        create_revision=kv.create_revision,
        version=kv.version,
        value=kv.value,
    )


def key_revision(kv: pb.KeyValue) -> KeyRevision:
    return KeyRevision(
        key=kv.key,
        mod_revision=kv.mod_revision,
        create_revision=kv.create_revision,
        version=kv.version,
    )
