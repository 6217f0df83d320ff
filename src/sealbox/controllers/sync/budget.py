"""How many provider calls the sync controller may make: one token bucket per store, one shared.

Every read the controller sends to an external store (a version check, a fetch, a listing) first
takes a token from its store's bucket (``--store-qps``/``--store-burst``), then one from the
bucket all stores share (``--provider-qps``/``--provider-burst``). A busy store cannot starve the
others, and a thousand ExternalSecrets due at once (a restart, a resync) are spread over time
instead of hitting the store in one burst (ESO has no such limit: the store's own rate limiting
answers instead, with errors).

A bucket holds up to ``burst`` tokens and gains ``rate`` per second. :meth:`TokenBucket.acquire`
*reserves* a token at once, even when the bucket is empty (its level goes below zero), and sleeps
exactly as long as the deficit takes to refill: callers are served in arrival order, each with
one ``asyncio.sleep``, never a polling loop. A caller cancelled while it waits gives its token
back. ``rate`` 0 means no limit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["CallBudget", "TokenBucket"]

Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    """``rate`` tokens per second after a burst of ``burst`` (``rate`` 0: unlimited).

    ``clock`` is a monotonic clock in seconds and ``sleep`` the coroutine that waits (tests pass a
    fake pair so no real time passes).
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if rate < 0:
            raise ValueError("rate must be 0 (unlimited) or positive")
        if rate > 0 and burst < 1:
            raise ValueError("burst must be at least 1 when rate is set")
        self.rate = float(rate)
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()

    @property
    def unlimited(self) -> bool:
        return self.rate == 0

    def available(self) -> float:
        """Tokens in the bucket now; negative while callers wait for reserved ones."""
        self._refill()
        return self._tokens

    def try_acquire(self) -> bool:
        """Take a token if one is there now; never waits, never reserves."""
        if self.unlimited:
            return True
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    async def acquire(self) -> None:
        """Take a token, waiting (one sleep) until the bucket has refilled enough for it."""
        if self.unlimited:
            return
        self._refill()
        self._tokens -= 1
        if self._tokens >= 0:
            return
        try:
            await self._sleep(-self._tokens / self.rate)
        except BaseException:
            self._refill()  # cancelled: the reservation is returned (never above burst)
            self._tokens = min(self._tokens + 1, float(self.burst))
            raise

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)


class CallBudget:
    """A bucket per store (created on first use, keyed by the store's key) and one for all.

    :meth:`acquire` waits for the store's token, then for the shared one, so a store over its
    own budget does not hold shared tokens while it waits.
    """

    def __init__(
        self,
        *,
        store_rate: float,
        store_burst: int,
        total_rate: float,
        total_burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._store_rate = store_rate
        self._store_burst = store_burst
        self._clock = clock
        self._sleep = sleep
        TokenBucket(store_rate, store_burst)  # check the store settings now, not at first call
        self.total = TokenBucket(total_rate, total_burst, clock=clock, sleep=sleep)
        self._stores: dict[str, TokenBucket] = {}

    def bucket(self, store_key: str) -> TokenBucket:
        """The store's own bucket (made full on first use)."""
        found = self._stores.get(store_key)
        if found is None:
            found = TokenBucket(
                self._store_rate, self._store_burst, clock=self._clock, sleep=self._sleep
            )
            self._stores[store_key] = found
        return found

    async def acquire(self, store_key: str) -> None:
        """Wait until one more call to the store ``store_key`` fits both budgets."""
        await self.bucket(store_key).acquire()
        await self.total.acquire()

    def forget(self, store_key: str) -> None:
        """Drop a deleted store's bucket (a store opened again starts full)."""
        self._stores.pop(store_key, None)
