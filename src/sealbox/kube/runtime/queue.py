"""The work queue: ``namespace/name`` keys, deduplicated, never handed to two workers at once.

The semantics are client-go's ``workqueue`` (sealed-secrets and every controller-runtime
controller run on it), because they are what makes "converge by key" safe:

* a key waiting in the queue is there once, however many events named it (``add`` is idempotent
  while the key waits);
* a key being processed is not handed out again; an ``add`` meanwhile marks it dirty and it goes
  back in line when the worker calls ``done``, so the latest state is always looked at once more;
* a failed key comes back after its own exponential backoff (``add_rate_limited``), and
  ``forget`` resets that count once it succeeds;
* ``shut_down`` stops handing out work (``get`` returns None) while workers finish what they hold.

It lives on one asyncio loop and takes no locks: all state changes happen between awaits.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from sealbox.kube.runtime.backoff import Backoff

__all__ = ["WorkQueue"]


class WorkQueue:
    """Keys to reconcile; see the module docstring for the guarantees."""

    def __init__(
        self, *, backoff: Backoff = Backoff(), on_depth: Callable[[int], None] | None = None
    ) -> None:
        self._backoff = backoff
        self._on_depth = on_depth
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._failures: dict[str, int] = {}
        self._timers: dict[str, tuple[float, asyncio.TimerHandle]] = {}
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._shutting_down = False

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    @property
    def waiting(self) -> tuple[str, ...]:
        """The keys in line, in order (not those held by workers or delayed)."""
        return tuple(self._queue)

    @property
    def processing(self) -> frozenset[str]:
        return frozenset(self._processing)

    def add(self, key: str) -> None:
        """Queue ``key`` unless it already waits; after ``done`` if a worker holds it now."""
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key not in self._processing:
            self._queue.append(key)
            self._changed()

    def add_after(self, key: str, delay_seconds: float) -> None:
        """``add(key)`` once ``delay_seconds`` have passed (the earliest of several wins)."""
        if self._shutting_down:
            return
        if delay_seconds <= 0:
            self.add(key)
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + delay_seconds
        pending = self._timers.get(key)
        if pending is not None:
            if pending[0] <= due:
                return
            pending[1].cancel()
        self._timers[key] = (due, loop.call_at(due, self._fire, key))

    def add_rate_limited(self, key: str) -> float:
        """Count one more failure of ``key`` and queue it after its backoff; returns the delay."""
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        delay = self._backoff.delay(failures)
        self.add_after(key, delay)
        return delay

    def forget(self, key: str) -> None:
        """``key`` succeeded: its next failure starts the backoff from the beginning."""
        self._failures.pop(key, None)

    def failures(self, key: str) -> int:
        return self._failures.get(key, 0)

    def get_nowait(self) -> str | None:
        """The next key (now held by the caller until ``done``), or None if none waits."""
        if self._shutting_down or not self._queue:
            return None
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        self._idle.clear()
        self._changed()
        return key

    async def get(self) -> str | None:
        """Wait for the next key; None once the queue shuts down (stop taking work)."""
        while True:
            if self._shutting_down:
                return None
            key = self.get_nowait()
            if key is not None:
                return key
            self._wakeup.clear()
            await self._wakeup.wait()

    def done(self, key: str) -> None:
        """The worker is finished with ``key``; it goes back in line if it changed meanwhile."""
        self._processing.discard(key)
        if key in self._dirty and not self._shutting_down:
            self._queue.append(key)
            self._changed()
        if not self._processing:
            self._idle.set()

    def shut_down(self) -> None:
        """Hand out nothing more; waiting and delayed keys are dropped (the next term relists)."""
        self._shutting_down = True
        for _, timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._queue.clear()
        self._dirty.clear()
        self._changed()

    async def drained(self) -> None:
        """Return once no worker holds a key."""
        await self._idle.wait()

    def _fire(self, key: str) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def _changed(self) -> None:
        self._wakeup.set()
        if self._on_depth is not None:
            self._on_depth(len(self._queue))
