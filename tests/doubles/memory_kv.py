"""An in-memory key-value store with etcd's revision rules, to test the ops without a server.

:class:`MemoryKV` implements :class:`sealbox.storage.KeyValueStore` the way etcd behaves:

* one global ``revision``, starting at 1 (an empty etcd), bumped by one per write (a put, a
  delete that deletes something, a txn that succeeds); every key a write touches gets that
  revision as its ``mod_revision``, a new key also as its ``create_revision``, and ``version``
  counts its writes since it was (re)created;
* a missing key has ``mod_revision`` 0, so a CAS expecting 0 creates;
* :meth:`MemoryKV.compare_and_swap` is all or nothing; when a compare fails nothing is written
  and the result carries every key's current value and the conflicting keys, in request order;
* :meth:`MemoryKV.iter_prefix` reads in pages of ``page_size`` keys, all at the revision of its
  first page, so writes made while a read is under way (by a hook, or by the caller between
  pages) do not show in it.

Hooks make a concurrent writer act at a chosen moment: :meth:`MemoryKV.before_cas` runs an action
just before the next compare-and-swap(s) are checked (``times`` of them), which is exactly the
window between a rewrap's read and its write. Every txn's keys are recorded in ``txns``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from sealbox.errors import InputError
from sealbox.storage import MAX_TXN_OPS, CasWrite, KeyValue, TxnResult

__all__ = ["CasHook", "MemoryKV", "MemoryRead"]

CasHook = Callable[["MemoryKV", Sequence[CasWrite]], object]
"""A concurrent writer's move: called with the store and the writes about to be checked
(whatever it returns is ignored)."""


@dataclass
class _Pending:
    action: CasHook
    times: int


@dataclass
class MemoryKV:
    """See the module docs. ``page_size`` is small by default so that reads really page."""

    page_size: int = 2
    revision: int = 1
    txns: list[tuple[bytes, ...]] = field(default_factory=list)
    pages_read: int = 0
    # Every version of every key, oldest first: (revision it was written at, value or deleted).
    _history: dict[bytes, list[tuple[int, KeyValue | None]]] = field(
        default_factory=dict, init=False, repr=False
    )
    _hooks: list[_Pending] = field(default_factory=list, init=False, repr=False)

    # -- plain access (seeding, concurrent writers, assertions) -------------------------------

    def get(self, key: bytes, *, revision: int | None = None) -> KeyValue | None:
        """The key as it is now, or as it was at ``revision``."""
        at = self.revision if revision is None else revision
        for written, kv in reversed(self._history.get(key, [])):
            if written <= at:
                return kv
        return None

    def put(self, key: bytes, value: bytes) -> int:
        """An unconditional write, like ``etcdctl put``; returns the new revision."""
        self.revision += 1
        self._write(key, value)
        return self.revision

    def delete(self, key: bytes) -> bool:
        """Delete one key; a revision is used only when it existed (as in etcd)."""
        if self.get(key) is None:
            return False
        self.revision += 1
        self._history[key].append((self.revision, None))
        return True

    def values(self, prefix: bytes = b"") -> dict[bytes, bytes]:
        """Every current key under ``prefix`` and its value."""
        return {key: kv.value for key, kv in self._current(prefix, self.revision)}

    def before_cas(self, action: CasHook, *, times: int = 1) -> None:
        """Run ``action`` just before each of the next ``times`` compare-and-swaps is checked."""
        self._hooks.append(_Pending(action, times))

    # -- the KeyValueStore protocol -------------------------------------------------------------

    def iter_prefix(self, prefix: bytes, *, start_after: bytes | None = None) -> MemoryRead:
        return MemoryRead(self, prefix, start_after)

    def count_prefix(self, prefix: bytes) -> int:
        return len(self._current(prefix, self.revision))

    def cas_put(self, key: bytes, value: bytes, expected_mod_revision: int) -> TxnResult:
        return self.compare_and_swap([CasWrite(key, value, expected_mod_revision)])

    def compare_and_swap(self, writes: Sequence[CasWrite], /) -> TxnResult:
        if len(writes) > MAX_TXN_OPS:
            raise InputError(f"{len(writes)} writes in one txn; at most {MAX_TXN_OPS} fit")
        if len({write.key for write in writes}) != len(writes):
            raise InputError("a key appears twice in one txn")
        self._run_hooks(writes)
        self.txns.append(tuple(write.key for write in writes))
        current = {write.key: self.get(write.key) for write in writes}
        conflicts = tuple(
            write.key
            for write in writes
            if _mod_revision(current[write.key]) != write.expected_mod_revision
        )
        if conflicts:
            return TxnResult(False, self.revision, current=current, conflicts=conflicts)
        self.revision += 1
        for write in writes:
            self._write(write.key, write.value)
        return TxnResult(True, self.revision)

    # -- internals ------------------------------------------------------------------------------

    def _write(self, key: bytes, value: bytes) -> None:
        before = self.get(key)
        created = before.create_revision if before is not None else self.revision
        version = before.version + 1 if before is not None else 1
        kv = KeyValue(key, self.revision, created, version, value)
        self._history.setdefault(key, []).append((self.revision, kv))

    def _current(self, prefix: bytes, revision: int) -> list[tuple[bytes, KeyValue]]:
        found = []
        for key in sorted(self._history):
            if key.startswith(prefix):
                kv = self.get(key, revision=revision)
                if kv is not None:
                    found.append((key, kv))
        return found

    def _run_hooks(self, writes: Sequence[CasWrite]) -> None:
        due, self._hooks = self._hooks, []
        for pending in due:
            pending.action(self, writes)
            if pending.times > 1:
                self._hooks.append(_Pending(pending.action, pending.times - 1))


class MemoryRead:
    """One paged snapshot read (:class:`sealbox.storage.PrefixRead`); iterate it once."""

    def __init__(self, store: MemoryKV, prefix: bytes, start_after: bytes | None) -> None:
        self.revision: int | None = None
        self.last_key: bytes | None = None
        self._store = store
        self._prefix = prefix
        self._after = start_after

    def __iter__(self) -> Iterator[KeyValue]:
        while True:
            if self.revision is None:
                self.revision = self._store.revision  # the snapshot is taken by the first page
            page = self._page()
            self._store.pages_read += 1
            for kv in page:
                self.last_key = kv.key
                yield kv
            if len(page) < self._store.page_size:
                return

    def _page(self) -> list[KeyValue]:
        assert self.revision is not None
        after = self.last_key if self.last_key is not None else self._after
        rows = self._store._current(self._prefix, self.revision)
        later = [kv for key, kv in rows if after is None or key > after]
        return later[: self._store.page_size]


def _mod_revision(kv: KeyValue | None) -> int:
    return kv.mod_revision if kv is not None else 0
