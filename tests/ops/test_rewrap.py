"""Rewrap over the in-memory store: every path of the compare-and-swap loop, exactly.

Values start out written by ``OLD`` (aesgcm ``old``); the rewrap moves them to ``NEW``'s first
provider (secretbox ``new``). A concurrent writer acts through the store's ``before_cas`` hook,
between the rewrap's read and its write, which is the window a real apiserver could write in.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from sealbox.encryption import StorageTransformers
from sealbox.errors import BackendUnavailable, InputError
from sealbox.ops import MAX_KEY_RETRIES, RewrapOptions, RewrapSummary, rewrap
from sealbox.storage import DEFAULT_TXN_BYTES, CasWrite
from tests.doubles.memory_kv import MemoryKV
from tests.ops.world import NEW, OLD, configmap_key, plaintext, secret_key, seed, transformers

SECRETS = b"/registry/secrets/"
CONFIGMAPS = b"/registry/configmaps/"
APPLY = RewrapOptions(dry_run=False)


def _state(store: MemoryKV, reader: StorageTransformers) -> dict[str, tuple[str, str, bytes]]:
    """Every stored key -> (provider, key name, plaintext), read with ``reader``."""
    out: dict[str, tuple[str, str, bytes]] = {}
    for key, value in store.values().items():
        result = reader.read(key.decode(), value)
        out[key.decode()] = (result.provider, result.key_name, result.data)
    return out


def _writer(key: str, config_text: str, note: str) -> tuple[bytes, bytes]:
    """What an apiserver running ``config_text`` stores when someone updates ``key``."""
    data = plaintext(key, note)
    return data, transformers(config_text).write(key, data)


def test_every_stale_value_is_rewritten_in_one_txn_per_batch() -> None:
    store = MemoryKV()
    keys = [secret_key(i) for i in range(5)]
    expected = seed(store, keys)
    expected |= seed(store, [secret_key(9)], NEW)  # already written by the new provider
    new = transformers(NEW)
    revision = store.revision
    examined: list[int] = []
    summary = rewrap(store, [SECRETS], new, APPLY, on_examined=examined.append)
    assert (summary.examined, summary.rewritten, summary.current) == (6, 5, 1)
    assert (summary.conflicts, summary.failed) == (0, [])
    assert summary.last_key == secret_key(9)
    assert summary.prefixes == ["/registry/secrets/"]
    assert summary.as_dict()["prefixes"] == ["/registry/secrets/"]
    assert examined == [1] * 6
    assert store.txns == [tuple(key.encode() for key in keys)]
    assert store.revision == revision + 1
    state = _state(store, new)
    assert state == {key: ("secretbox", "new", expected[key]) for key in expected}
    again = rewrap(store, [SECRETS], new, APPLY)
    assert (again.rewritten, again.current) == (0, 6)


def test_a_dry_run_counts_and_writes_nothing() -> None:
    store = MemoryKV()
    seed(store, [secret_key(i) for i in range(4)])
    before, revision = store.values(), store.revision
    summary = RewrapSummary(dry_run=False)  # the options decide, not what it held before
    rewrap(store, [SECRETS], transformers(NEW), RewrapOptions(), summary=summary)
    assert summary.dry_run
    assert (summary.examined, summary.rewritten, summary.current) == (4, 4, 0)
    assert store.values() == before
    assert (store.revision, store.txns) == (revision, [])


def test_a_concurrent_write_with_the_new_provider_is_left_alone() -> None:
    store = MemoryKV()
    keys = [secret_key(i) for i in range(4)]
    expected = seed(store, keys)
    expected[keys[1]], value = _writer(keys[1], NEW, "written by the apiserver")
    store.before_cas(lambda kv, _writes: kv.put(keys[1].encode(), value))
    summary = rewrap(store, [SECRETS], transformers(NEW), APPLY)
    assert store.values()[keys[1].encode()] == value  # byte for byte: never overwritten
    assert (summary.rewritten, summary.conflicts, summary.failed) == (3, 1, [])
    assert _state(store, transformers(NEW)) == {
        key: ("secretbox", "new", expected[key]) for key in keys
    }
    # The batch failed as a whole, then the other keys went one by one.
    assert store.txns == [
        tuple(k.encode() for k in keys),
        *((k.encode(),) for k in keys if k != keys[1]),
    ]


def test_a_concurrent_stale_write_is_replanned_and_rewrapped() -> None:
    store = MemoryKV()
    keys = [secret_key(i) for i in range(3)]
    expected = seed(store, keys)
    expected[keys[2]], value = _writer(keys[2], OLD, "updated by an old apiserver")
    store.before_cas(lambda kv, _writes: kv.put(keys[2].encode(), value))
    summary = rewrap(store, [SECRETS], transformers(NEW), APPLY)
    assert (summary.rewritten, summary.conflicts, summary.failed) == (3, 1, [])
    assert _state(store, transformers(NEW)) == {
        key: ("secretbox", "new", expected[key]) for key in keys
    }


def test_a_key_deleted_meanwhile_stays_deleted() -> None:
    store = MemoryKV()
    keys = [secret_key(i) for i in range(3)]
    expected = seed(store, keys)
    store.before_cas(lambda kv, _writes: kv.delete(keys[0].encode()))
    summary = rewrap(store, [SECRETS], transformers(NEW), APPLY)
    assert (summary.rewritten, summary.conflicts, summary.failed) == (2, 1, [])
    assert keys[0].encode() not in store.values()
    assert _state(store, transformers(NEW)) == {
        key: ("secretbox", "new", expected[key]) for key in keys[1:]
    }


def test_a_key_that_keeps_changing_is_reported_after_the_retries() -> None:
    store = MemoryKV()
    keys = [secret_key(i) for i in range(3)]
    expected = seed(store, keys)
    restless = keys[1]
    writes = 0

    def keep_writing(kv: MemoryKV, _writes: Sequence[CasWrite]) -> None:
        nonlocal writes
        writes += 1
        expected[restless], value = _writer(restless, OLD, f"write {writes}")
        kv.put(restless.encode(), value)

    store.before_cas(keep_writing, times=1000)
    summary = rewrap(store, [SECRETS], transformers(NEW), APPLY)
    reason = f"changed {MAX_KEY_RETRIES} times during the rewrap"
    assert summary.failed == [(restless, reason)]
    assert summary.conflicts == MAX_KEY_RETRIES
    assert summary.rewritten == 2
    state = _state(store, transformers(NEW))
    assert state[restless] == ("aesgcm", "old", expected[restless])  # the last write is intact
    assert {state[key] for key in keys if key != restless} == {
        ("secretbox", "new", expected[key]) for key in keys if key != restless
    }


def test_an_undecryptable_value_is_reported_and_left_alone() -> None:
    store = MemoryKV()
    keys = [secret_key(i) for i in range(3)]
    seed(store, keys)
    moved = secret_key(7)
    copied = store.values()[keys[0].encode()]
    store.put(moved.encode(), copied)  # aesgcm binds the value to its key: unreadable here
    summary = rewrap(store, [SECRETS], transformers(NEW), APPLY)
    assert (summary.examined, summary.rewritten) == (4, 3)
    assert [key for key, _ in summary.failed] == [moved]
    assert "could not be decrypted" in summary.failed[0][1]
    assert not summary.failed[0][1].startswith(moved)  # the key is said once, by the report
    assert store.values()[moved.encode()] == copied


def test_batches_split_by_count_and_by_bytes() -> None:
    store = MemoryKV()
    keys = [secret_key(i) for i in range(7)]
    seed(store, keys)
    rewrap(store, [SECRETS], transformers(NEW), RewrapOptions(dry_run=False, batch_size=3))
    assert [len(txn) for txn in store.txns] == [3, 3, 1]
    assert [key for txn in store.txns for key in txn] == [key.encode() for key in keys]

    big = MemoryKV()
    writer = transformers(OLD)
    for index in range(3):
        key = secret_key(index)
        data = plaintext(key, "x" * (DEFAULT_TXN_BYTES // 2))
        big.put(key.encode(), writer.write(key, data))
    rewrap(big, [SECRETS], transformers(NEW), APPLY)
    assert [len(txn) for txn in big.txns] == [1, 1, 1]  # each value is half the budget

    with pytest.raises(InputError, match="max_ops must be between 1 and 128"):
        rewrap(store, [SECRETS], transformers(OLD), RewrapOptions(dry_run=False, batch_size=129))


def test_resume_across_prefixes_after_an_interruption() -> None:
    store = MemoryKV()
    secrets = [secret_key(i) for i in range(4)]
    configmaps = [configmap_key(i) for i in range(4)]
    expected = seed(store, secrets + configmaps)
    cas_calls = 0

    def outage(_kv: MemoryKV, _writes: Sequence[CasWrite]) -> None:
        nonlocal cas_calls
        cas_calls += 1
        if cas_calls == 3:
            raise BackendUnavailable("etcd went away")

    store.before_cas(outage, times=3)
    options = RewrapOptions(dry_run=False, batch_size=2)
    first = RewrapSummary()
    # Given in the wrong order on purpose: key order (configmaps first) is what makes a resume
    # after the last key done skip exactly what is settled.
    with pytest.raises(BackendUnavailable):
        rewrap(store, [SECRETS, CONFIGMAPS], transformers(NEW), options, summary=first)
    assert first.last_key == configmaps[3]  # two batches went through, the third did not
    assert first.rewritten == 4
    state = _state(store, transformers(NEW))
    assert {key for key, (provider, _, _) in state.items() if provider == "secretbox"} == set(
        configmaps
    )
    resumed = RewrapOptions(dry_run=False, batch_size=2, start_after=first.last_key.encode())
    second = rewrap(store, [SECRETS, CONFIGMAPS], transformers(NEW), resumed)
    assert (second.examined, second.rewritten, second.current) == (4, 4, 0)
    assert second.last_key == secrets[3]
    assert _state(store, transformers(NEW)) == {
        key: ("secretbox", "new", expected[key]) for key in expected
    }
    middle = RewrapOptions(dry_run=True, start_after=secrets[1].encode())
    tail = rewrap(store, [SECRETS, CONFIGMAPS], transformers(NEW), middle)
    assert (tail.examined, tail.current) == (2, 2)  # configmaps all sort before the start
