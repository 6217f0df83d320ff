"""Reading external stores for the sync controller: version first, coalesced, budgeted.

ESO fetches every remote value at every refresh of every ExternalSecret, so a thousand
ExternalSecrets reading one Vault key every minute send a thousand full reads a minute (and the
store's rate limit answers). :class:`RemoteReader` keeps what it last read per store and asks
the store as little as it can:

* **Fresh enough: no call.** An observation checked at or after the caller's ``fresh_after``
  (its refresh interval ago, say) is returned as is.
* **Version first.** Otherwise it asks :meth:`~sealbox.sync.providers.Provider.version`
  (metadata only); an unchanged version returns the kept value, re-dated. Only a new version (or
  a store that keeps none) costs a fetch. A first read fetches at once (the fetch returns the
  version), except a map, whose fetch carries no version: its version is read first, so a write
  racing the read is seen as a new version next time, never missed.
* **Pinned versions** (``remoteRef.version``) never change: fetched once, kept.
* **Coalesced.** Concurrent requests for the same thing from one store share one in-flight
  read (the same ``(store.key, ref)``; a map's ``(store.key, ref)``; a find's ``(store.key,
  path, regexp)``), so a thousand ExternalSecrets due at once cost one read.
* **Budgeted and counted.** Every provider call first waits for
  :meth:`CallBudget.acquire(store.key) <sealbox.controllers.sync.budget.CallBudget.acquire>` and
  is reported to ``on_call(provider_name, call, status)`` with ESO's call names
  (``GetSecret``, ``GetSecretMap``, ``GetAllSecrets``, ``GetSecretVersion``) and status
  ``success``/``error``, for ``externalsecret_provider_api_calls_count``.

Errors propagate unchanged and are never kept: the next request asks again. A
:class:`~sealbox.errors.RemoteKeyMissing` also drops what was kept for that ref, since a KV key
deleted and written again restarts its versions at 1. An observation's ``checked_at`` is when
its read *started* (the value is at least that fresh); ``changed_at`` is when this reader first
saw that value (where propagation latency starts). Reprs never show a value.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Awaitable, Callable, Hashable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sealbox.controllers.sync.budget import CallBudget
from sealbox.controllers.sync.open_store import OpenStore
from sealbox.errors import RemoteKeyMissing
from sealbox.sync.providers import Provider, RemoteRef

__all__ = [
    "CALL_FIND",
    "CALL_MAP",
    "CALL_VALUE",
    "CALL_VERSION",
    "Observed",
    "ObservedMap",
    "RemoteReader",
    "utc_now",
]

CALL_VALUE = "GetSecret"
CALL_MAP = "GetSecretMap"
CALL_FIND = "GetAllSecrets"
CALL_VERSION = "GetSecretVersion"

T = TypeVar("T")
_Entry = TypeVar("_Entry", "Observed", "ObservedMap")


def utc_now() -> datetime:
    """The wall clock, timezone-aware (UTC)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Observed:
    """One remote value as this reader last saw it (the repr hides the value)."""

    value: bytes = field(repr=False)
    version: str | None
    checked_at: datetime
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class ObservedMap:
    """A remote map (``dataFrom.extract`` or ``dataFrom.find``) as this reader last saw it.

    ``values`` is read-only and hidden from the repr; ``version`` is the key's version for an
    extract (``None`` for a find or a store that keeps none).
    """

    values: Mapping[str, bytes] = field(repr=False)
    version: str | None
    checked_at: datetime
    changed_at: datetime


@dataclass(eq=False)
class _StoreCache:
    """What was read from one opened store (a reopened store starts a new one)."""

    uid: str
    generation: int
    provider: Provider
    entries: dict[Hashable, Observed | ObservedMap] = field(default_factory=dict)

    def serves(self, store: OpenStore) -> bool:
        return (
            self.uid == store.uid
            and self.generation == store.generation
            and self.provider is store.provider
        )


@dataclass(eq=False)
class _Flight:
    started: datetime
    cache: _StoreCache
    task: asyncio.Task[Any]


Load = Callable[[OpenStore, Any, datetime], Awaitable[_Entry]]


class RemoteReader:
    """Reads values for the reconciler; see the module docstring for what it saves.

    ``calls`` counts the provider calls made so far (the benchmark and tests read it).
    """

    def __init__(
        self,
        budget: CallBudget,
        *,
        clock: Callable[[], datetime] = utc_now,
        on_call: Callable[[str, str, str], None] | None = None,
    ) -> None:
        self._budget = budget
        self._clock = clock
        self._on_call = on_call
        self._stores: dict[str, _StoreCache] = {}
        self._flights: dict[tuple[str, Hashable], _Flight] = {}
        self.calls = 0

    async def value(self, store: OpenStore, ref: RemoteRef, *, fresh_after: datetime) -> Observed:
        """The value at ``ref`` (one property of it when set), checked at or after ``fresh_after``
        unless ``ref`` pins a version. Raises the provider's errors unchanged."""
        return await self._get(
            store,
            ("value", ref),
            ref.version is not None,
            fresh_after,
            lambda s, kept, now: self._load_value(s, ref, kept, now, fresh_after),
        )

    async def value_map(
        self, store: OpenStore, ref: RemoteRef, *, fresh_after: datetime
    ) -> ObservedMap:
        """Every top-level field at ``ref`` (``dataFrom.extract``), as :meth:`value` reads."""
        return await self._get(
            store,
            ("map", ref),
            ref.version is not None,
            fresh_after,
            lambda s, kept, now: self._load_map(s, ref, kept, now, fresh_after),
        )

    async def find(
        self, store: OpenStore, path: str | None, regexp: str, *, fresh_after: datetime
    ) -> ObservedMap:
        """Every key under ``path`` whose name matches ``regexp`` (``dataFrom.find``). A listing
        has no version: unless the kept one is fresh enough, this is one call."""
        return await self._get(
            store,
            ("find", path, regexp),
            False,
            fresh_after,
            lambda s, kept, now: self._load_find(s, path, regexp, kept, now),
        )

    def forget_store(self, store_key: str) -> None:
        """Drop everything read from the store ``store_key`` (closed, changed or deleted); reads
        in flight still answer their callers but are not kept."""
        self._stores.pop(store_key, None)
        for key in [key for key in self._flights if key[0] == store_key]:
            del self._flights[key]

    # -- coalescing -----------------------------------------------------------------------

    async def _get(
        self,
        store: OpenStore,
        slot: Hashable,
        pinned: bool,
        fresh_after: datetime,
        load: Load[_Entry],
    ) -> _Entry:
        while True:
            cache = self._cache(store)
            kept: Any = cache.entries.get(slot)
            if kept is not None and (pinned or kept.checked_at >= fresh_after):
                return cast(_Entry, kept)
            key = (store.key, slot)
            flight = self._flights.get(key)
            if flight is None:
                flight = self._start(store, cache, key, slot, kept, load)
            elif flight.cache is not cache or flight.started < fresh_after:
                # Started too early for this caller (or for an older opening of the store):
                # let it land, then look again.
                await asyncio.wait([flight.task])
                continue
            return await asyncio.shield(flight.task)

    def _cache(self, store: OpenStore) -> _StoreCache:
        cache = self._stores.get(store.key)
        if cache is None or not cache.serves(store):
            cache = _StoreCache(store.uid, store.generation, store.provider)
            self._stores[store.key] = cache
        return cache

    def _start(
        self,
        store: OpenStore,
        cache: _StoreCache,
        key: tuple[str, Hashable],
        slot: Hashable,
        kept: Any,
        load: Load[_Entry],
    ) -> _Flight:
        started = self._clock()

        async def run() -> _Entry:
            try:
                entry = await load(store, kept, started)
            except RemoteKeyMissing:
                if self._stores.get(store.key) is cache:
                    cache.entries.pop(slot, None)
                raise
            if self._stores.get(store.key) is cache:
                cache.entries[slot] = entry
            return entry

        flight = _Flight(started, cache, asyncio.create_task(run()))

        def landed(task: asyncio.Task[Any]) -> None:
            if self._flights.get(key) is flight:
                del self._flights[key]
            if not task.cancelled():
                task.exception()  # retrieved: a read nobody awaits any more logs no warning

        flight.task.add_done_callback(landed)
        self._flights[key] = flight
        return flight

    # -- what each kind of read asks the store -------------------------------------------

    async def _version(
        self, store: OpenStore, key: str, fresh_after: datetime
    ) -> tuple[str | None, datetime]:
        """The version of remote ``key`` and when it was checked: one check per key, shared by
        every ref on it (each property, the map) and every caller content with its age."""
        seen = await self._get(
            store,
            ("version", key),
            False,
            fresh_after,
            lambda s, _kept, now: self._load_version(s, RemoteRef(key), now),
        )
        return seen.version, seen.checked_at

    async def _load_version(self, store: OpenStore, ref: RemoteRef, now: datetime) -> Observed:
        provider = store.provider
        version = await self._call(store, CALL_VERSION, lambda: provider.version(ref))
        return Observed(b"", version, now, now)

    async def _load_value(
        self,
        store: OpenStore,
        ref: RemoteRef,
        kept: Observed | None,
        now: datetime,
        fresh_after: datetime,
    ) -> Observed:
        provider = store.provider
        if kept is not None:
            version, checked = await self._version(store, ref.key, fresh_after)
            if version is not None and version == kept.version:
                return replace(kept, checked_at=checked)
        fetched = await self._call(store, CALL_VALUE, lambda: provider.fetch(ref))
        same = kept is not None and kept.value == fetched.value
        changed_at = kept.changed_at if kept is not None and same else now
        return Observed(fetched.value, fetched.version, now, changed_at)

    async def _load_map(
        self,
        store: OpenStore,
        ref: RemoteRef,
        kept: ObservedMap | None,
        now: datetime,
        fresh_after: datetime,
    ) -> ObservedMap:
        provider = store.provider
        version = ref.version
        if version is None:
            version, checked = await self._version(store, ref.key, fresh_after)
            if kept is not None and version is not None and version == kept.version:
                return replace(kept, checked_at=checked)
        values = await self._call(store, CALL_MAP, lambda: provider.fetch_map(ref))
        return _observed_map(values, version, kept, now)

    async def _load_find(
        self,
        store: OpenStore,
        path: str | None,
        regexp: str,
        kept: ObservedMap | None,
        now: datetime,
    ) -> ObservedMap:
        provider = store.provider
        values = await self._call(store, CALL_FIND, lambda: provider.find(path, regexp))
        return _observed_map(values, None, kept, now)

    async def _call(self, store: OpenStore, call: str, request: Callable[[], Awaitable[T]]) -> T:
        await self._budget.acquire(store.key)
        self.calls += 1
        try:
            result = await request()
        except Exception:
            self._report(store.provider_name, call, "error")
            raise
        self._report(store.provider_name, call, "success")
        return result

    def _report(self, provider: str, call: str, status: str) -> None:
        if self._on_call is not None:
            self._on_call(provider, call, status)


def _observed_map(
    values: Mapping[str, bytes], version: str | None, kept: ObservedMap | None, now: datetime
) -> ObservedMap:
    frozen = types.MappingProxyType(dict(values))
    same = kept is not None and dict(kept.values) == dict(frozen)
    changed_at = kept.changed_at if kept is not None and same else now
    return ObservedMap(frozen, version, now, changed_at)
