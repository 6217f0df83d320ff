"""The in-memory store keeps etcd's revision rules: the same checks pass on both.

Every test runs against :class:`MemoryKV` and, marked ``integration``, against a real etcd
through :class:`EtcdClient`; so what the ops tests prove with the double holds for etcd.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import pytest

from sealbox.storage import CasWrite, KeyValue, KeyValueStore, PrefixRead
from sealbox.storage.etcd import EtcdClient
from tests.doubles.memory_kv import MemoryKV
from tests.integration.etcd_server import EtcdPrefix


class _Subject(KeyValueStore, Protocol):
    """What both stores offer besides the protocol, for seeding and checking."""

    def get(self, key: bytes) -> KeyValue | None: ...

    def put(self, key: bytes, value: bytes) -> int: ...

    def delete(self, key: bytes) -> bool: ...


@dataclass(frozen=True)
class Store:
    subject: _Subject
    prefix: bytes
    read: Callable[[bytes, bytes | None], PrefixRead]  # a paged read: 2 keys a page

    def key(self, name: str) -> bytes:
        return self.prefix + name.encode()


@pytest.fixture(params=["memory", pytest.param("etcd", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "memory":
        memory = MemoryKV(page_size=2)
        yield Store(
            memory, b"/t/", lambda prefix, after: memory.iter_prefix(prefix, start_after=after)
        )
        return
    etcd: EtcdPrefix = request.getfixturevalue("etcd")
    with EtcdClient(etcd.config()) as client:

        def read(prefix: bytes, after: bytes | None) -> PrefixRead:
            return client.iter_prefix(prefix, page_size=2, start_after=after)

        yield Store(client, etcd.prefix, read)


def test_a_put_sets_revisions_and_version(store: Store) -> None:
    kv = store.subject
    first = kv.put(store.key("a"), b"1")
    created = kv.get(store.key("a"))
    assert created is not None
    assert (created.mod_revision, created.create_revision, created.version) == (first, first, 1)
    second = kv.put(store.key("a"), b"2")
    assert second == first + 1  # one write, one revision
    changed = kv.get(store.key("a"))
    assert changed is not None
    assert (changed.mod_revision, changed.create_revision, changed.version) == (second, first, 2)
    assert kv.delete(store.key("a"))
    recreated_at = kv.put(store.key("a"), b"3")
    recreated = kv.get(store.key("a"))
    assert recreated is not None
    assert (recreated.create_revision, recreated.version) == (recreated_at, 1)


def test_a_missing_key_has_mod_revision_zero(store: Store) -> None:
    kv = store.subject
    key = store.key("new")
    created = kv.cas_put(key, b"v1", 0)
    assert created.succeeded
    again = kv.cas_put(key, b"v2", 0)
    assert not again.succeeded
    assert again.conflicts == (key,)
    current = again.current[key]
    assert current is not None
    assert (current.value, current.mod_revision) == (b"v1", created.revision)
    assert again.revision == created.revision  # a failed txn writes nothing
    gone = kv.cas_put(store.key("absent"), b"x", created.revision)
    assert not gone.succeeded
    assert gone.current == {store.key("absent"): None}


def test_a_txn_is_all_or_nothing_and_reports_every_key(store: Store) -> None:
    kv = store.subject
    keys = [store.key(f"k{i}") for i in range(4)]
    seeded = kv.compare_and_swap([CasWrite(key, b"old", 0) for key in keys])
    assert seeded.succeeded
    for key in keys:
        got = kv.get(key)
        assert got is not None
        assert got.mod_revision == seeded.revision  # one txn, one revision for every key
    kv.put(keys[2], b"concurrent")
    attempt = [CasWrite(key, b"new", seeded.revision) for key in keys]
    failed = kv.compare_and_swap(attempt)
    assert not failed.succeeded
    assert failed.conflicts == (keys[2],)
    assert {key: kv_.value for key, kv_ in failed.current.items() if kv_} == {
        keys[0]: b"old",
        keys[1]: b"old",
        keys[2]: b"concurrent",
        keys[3]: b"old",
    }
    assert [_value(kv, key) for key in keys] == [b"old", b"old", b"concurrent", b"old"]


def _value(kv: _Subject, key: bytes) -> bytes | None:
    got = kv.get(key)
    return None if got is None else got.value


def test_a_paged_read_keeps_showing_its_snapshot(store: Store) -> None:
    kv = store.subject
    keys = [store.key(f"k{i}") for i in range(7)]
    for key in keys:
        kv.put(key, b"before")
    snapshot = kv.put(store.key("k0"), b"before")
    read = store.read(store.prefix, None)
    seen = iter(read)
    first = next(seen)
    assert read.revision == snapshot
    kv.put(keys[5], b"after")  # changed, deleted and created while the read is under way
    kv.delete(keys[6])
    kv.put(store.key("k4a"), b"after")
    rest = list(seen)
    assert [first.key, *(item.key for item in rest)] == keys
    assert {item.value for item in [first, *rest]} == {b"before"}
    assert read.revision == snapshot
    fresh = [item.key for item in store.read(store.prefix, keys[3])]
    assert fresh == [store.key("k4"), store.key("k4a"), keys[5]]
    assert kv.count_prefix(store.prefix) == 7
