"""Re-encrypt stored values with the current write provider, never losing a concurrent write.

For every key under the chosen prefixes (one snapshot, page by page)::

    read value V at mod_revision R ──► decrypt through the full provider chain
         │ not stale: already written by the first provider/key/key_id ─► skip
         ▼ stale
    re-encrypt the same plaintext bytes with the first provider (never re-serialized)
         │
    txn( IF mod_revision(k1)==R1 AND … AND mod_revision(kN)==RN   ← one compare per key, N ≤ 128
         THEN put(k1,V1') … put(kN,VN')
         ELSE range(k1) … range(kN) )                               ← fresh state of each key
         │ failed (someone wrote meanwhile)
         ▼
    each key again on its own, from the fresh value: decrypt, skip if current, CAS put; repeat
    while it keeps changing (bounded)

A write that lands between our read and our txn makes its compare fail, so it is never
overwritten; its newer value is then rewrapped (or left alone if the apiserver already wrote it
with the new provider). ``last_key`` is the last key whose fate is settled, for ``start_after``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from sealbox.encryption import EncryptionConfiguration, StorageTransformers
from sealbox.errors import DecryptError, InputError
from sealbox.storage import (
    DEFAULT_PREFIX,
    MAX_TXN_OPS,
    CasWrite,
    KeyValue,
    KeyValueStore,
    plan_batches,
)

__all__ = ["MAX_KEY_RETRIES", "RewrapOptions", "RewrapSummary", "check_write_providers", "rewrap"]

MAX_KEY_RETRIES = 10
"""How often one key may change under a rewrap before it is reported as failed."""


class _Skip(Enum):
    CURRENT = "already written by the current provider and key"
    FAILED = "does not decrypt (reported)"


@dataclass(frozen=True, slots=True)
class RewrapOptions:
    """How to rewrap: for real or not, keys per txn, where to resume (the keys after it)."""

    dry_run: bool = True
    batch_size: int = MAX_TXN_OPS
    start_after: bytes | None = None
    etcd_prefix: str = DEFAULT_PREFIX


@dataclass
class RewrapSummary:
    """Filled in as the rewrap goes, so an interrupted run still says how far it got."""

    examined: int = 0
    rewritten: int = 0
    current: int = 0
    conflicts: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    last_key: str | None = None
    dry_run: bool = True
    prefixes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "dryRun": self.dry_run,
            "examined": self.examined,
            "rewritten": self.rewritten,
            "alreadyCurrent": self.current,
            "conflictsRetried": self.conflicts,
            "failed": [{"key": key, "reason": reason} for key, reason in self.failed],
            "lastKey": self.last_key,
            "prefixes": list(self.prefixes),
        }


def check_write_providers(config: EncryptionConfiguration, *, allow_plaintext: bool) -> None:
    """Refuse a config whose entries would write plaintext, unless explicitly allowed.

    Raises:
        InputError: an entry lists ``identity`` first and ``allow_plaintext`` is false.
    """
    if allow_plaintext:
        return
    for entry in config.resources:
        if entry.providers and entry.providers[0].type == "identity":
            raise InputError(
                f"{config.source}: {entry.path}.providers[0] is identity, so a rewrap would "
                f"store {', '.join(entry.resources)} in plaintext; put the encrypting provider "
                "first, or pass --allow-plaintext to decrypt on purpose"
            )


@dataclass(frozen=True, slots=True)
class _Rewrapper:
    """One rewrap's collaborators: plans each key's write and settles batches that conflict."""

    store: KeyValueStore
    transformers: StorageTransformers
    options: RewrapOptions
    summary: RewrapSummary

    def plan(self, kv: KeyValue) -> CasWrite | _Skip:
        """The write that brings ``kv`` up to date, or why there is none."""
        key = kv.key.decode("utf-8", errors="replace")
        try:
            result = self.transformers.read(key, kv.value)
            if not result.stale:
                return _Skip.CURRENT
            return CasWrite(kv.key, self.transformers.write(key, result.data), kv.mod_revision)
        except (DecryptError, InputError) as exc:
            self.summary.failed.append((key, str(exc).removeprefix(key + ": ")))
            return _Skip.FAILED

    def flush(self, batch: list[CasWrite]) -> None:
        if not batch:
            return
        if self.options.dry_run:
            self.summary.rewritten += len(batch)
            return
        outcome = self.store.compare_and_swap(batch)
        if outcome.succeeded:
            self.summary.rewritten += len(batch)
            return
        for write in batch:
            self._settle_one(write, outcome.current.get(write.key))

    def _settle_one(self, write: CasWrite, fresh: KeyValue | None) -> None:
        """After a failed batch: write this key alone, following it as it changes."""
        for _ in range(MAX_KEY_RETRIES):
            if fresh is not None and fresh.mod_revision != write.expected_mod_revision:
                self.summary.conflicts += 1
                planned = self.plan(fresh)
                if isinstance(planned, _Skip):
                    return  # the newer value is already current (or unreadable: reported)
                write = planned
            elif fresh is None:
                self.summary.conflicts += 1
                return  # deleted meanwhile: nothing to rewrap
            outcome = self.store.cas_put(write.key, write.value, write.expected_mod_revision)
            if outcome.succeeded:
                self.summary.rewritten += 1
                return
            fresh = outcome.current.get(write.key)
        key = write.key.decode("utf-8", errors="replace")
        self.summary.failed.append((key, f"changed {MAX_KEY_RETRIES} times during the rewrap"))


def rewrap(
    store: KeyValueStore,
    prefixes: Sequence[bytes],
    transformers: StorageTransformers,
    options: RewrapOptions,
    *,
    summary: RewrapSummary | None = None,
    on_examined: Callable[[int], None] | None = None,
) -> RewrapSummary:
    """Bring every value under ``prefixes`` to the current write provider (see module doc).

    Progress goes into ``summary`` (a new one if none is given) as it happens, and it is
    returned at the end.

    Raises:
        BackendUnavailable: etcd, or a KMS plugin the config names, did not answer; the summary
            then says how far it got (``last_key``).
    """
    if summary is None:
        summary = RewrapSummary()
    worker = _Rewrapper(store, transformers, options, summary)
    summary.dry_run = options.dry_run
    summary.prefixes = [prefix.decode("utf-8", errors="replace") for prefix in sorted(prefixes)]
    for prefix in sorted(prefixes):  # key order, so start_after resumes across prefixes
        pending: list[CasWrite] = []
        last_seen: str | None = None
        for kv in store.iter_prefix(prefix, start_after=options.start_after):
            summary.examined += 1
            planned = worker.plan(kv)
            if planned is _Skip.CURRENT:
                summary.current += 1
            elif isinstance(planned, CasWrite):
                pending.append(planned)
            last_seen = kv.key.decode("utf-8", errors="replace")
            if len(pending) >= options.batch_size:
                _flush_all(worker, pending, options.batch_size)
                pending = []
            if not pending:
                summary.last_key = last_seen  # everything up to here is settled
            if on_examined is not None:
                on_examined(1)
        _flush_all(worker, pending, options.batch_size)
        if last_seen is not None:
            summary.last_key = last_seen
    return summary


def _flush_all(worker: _Rewrapper, pending: list[CasWrite], batch_size: int) -> None:
    for batch in plan_batches(pending, max_ops=batch_size):
        worker.flush(batch)
