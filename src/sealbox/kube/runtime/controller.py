"""One term of a controller's work: informers feed keys to a queue, workers reconcile them.

``Controller.lead`` runs while this replica is the leader. It starts the informers (each term
lists afresh), waits for their caches, then runs ``workers`` tasks that take keys and call the
reconciler, and enqueues every cached key each ``resync_seconds`` (the safety net for anything a
watch missed). Keys are ``namespace/name``; the reconciler re-reads the object from the
informer's cache and makes the world match it, so it is idempotent and order-blind.

Secondary informers (``watches``: controller-runtime's ``Watches`` with a map function) follow
objects the reconciler reads but does not own the keys of (the Secrets it writes, the stores it
uses): each :class:`Watch` turns a change of its object into the primary keys to reconcile
(possibly none). They start and sync with the primary informers, every term, but the resync
enqueues primary keys only.

A reconcile returns None (done: the key's failure count is forgotten) or a number of seconds
after which to look again (also forgets failures). If it raises, the key comes back after its
own exponential backoff. Two ways to end a term:

* ``stepping_down`` is set (graceful shutdown): no new key is taken, in-flight reconciles finish
  (up to ``shutdown_grace_seconds``), then ``lead`` returns;
* the task is cancelled (the lease was lost): everything stops at once, in-flight reconciles
  included, because another replica may start acting soon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sealbox.kube.runtime.backoff import Backoff
from sealbox.kube.runtime.informer import Informer
from sealbox.kube.runtime.metrics import ControllerMetrics
from sealbox.kube.runtime.queue import WorkQueue

__all__ = ["Controller", "ControllerOptions", "Reconcile", "Watch"]

Reconcile = Callable[[str], Awaitable[float | None]]
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ControllerOptions:
    """How a controller runs; ``name`` labels its metrics and log lines."""

    name: str
    workers: int = 2
    resync_seconds: float = 600.0
    shutdown_grace_seconds: float = 20.0
    backoff: Backoff = field(default_factory=Backoff)


@dataclass(frozen=True, slots=True)
class Watch:
    """A secondary informer and the primary keys a change of one of its keys concerns."""

    informer: Informer
    to_keys: Callable[[str], Iterable[str]]


class Controller:
    """Reconciles the keys its informers announce, one worker per key at a time."""

    def __init__(
        self,
        options: ControllerOptions,
        reconcile: Reconcile,
        *,
        informers: Sequence[Informer],
        metrics: ControllerMetrics,
        watches: Sequence[Watch] = (),
    ) -> None:
        self.options = options
        self.informers = tuple(informers)
        self.watches = tuple(watches)
        self._reconcile = reconcile
        self._metrics = metrics
        self.queue: WorkQueue | None = None

    @property
    def synced(self) -> bool:
        return all(informer.synced.is_set() for informer in self._all_informers())

    def _all_informers(self) -> tuple[Informer, ...]:
        return (*self.informers, *(watch.informer for watch in self.watches))

    async def lead(self, stepping_down: asyncio.Event) -> None:
        """Run one leadership term; see the module docstring for how it ends."""
        name = self.options.name
        depth = self._metrics.queue_depth.labels(name)
        queue = WorkQueue(backoff=self.options.backoff, on_depth=depth.set)
        self.queue = queue
        unsubscribe = [informer.subscribe(queue.add) for informer in self.informers]
        unsubscribe += [watch.informer.subscribe(_mapped(watch, queue)) for watch in self.watches]
        for informer in self._all_informers():
            informer.synced.clear()
        background = [asyncio.create_task(informer.run()) for informer in self._all_informers()]
        workers: list[asyncio.Task[None]] = []
        try:
            await self._wait_synced(stepping_down)
            background.append(asyncio.create_task(self._resync(queue)))
            workers = [asyncio.create_task(self._work(queue)) for _ in range(self.options.workers)]
            await stepping_down.wait()
            queue.shut_down()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(queue.drained(), self.options.shutdown_grace_seconds)
        finally:
            queue.shut_down()
            for undo in unsubscribe:
                undo()
            for task in (*workers, *background):
                task.cancel()
            await asyncio.gather(*workers, *background, return_exceptions=True)
            depth.set(0)

    async def _wait_synced(self, stepping_down: asyncio.Event) -> None:
        waits = [asyncio.create_task(informer.synced.wait()) for informer in self._all_informers()]
        stop = asyncio.create_task(stepping_down.wait())
        try:
            pending = set(waits)
            while pending and not stop.done():
                _, pending = await asyncio.wait(
                    pending | {stop}, return_when=asyncio.FIRST_COMPLETED
                )
                pending.discard(stop)
        finally:
            for task in (*waits, stop):
                task.cancel()

    async def _resync(self, queue: WorkQueue) -> None:
        while True:
            await asyncio.sleep(self.options.resync_seconds)
            for informer in self.informers:
                for key in informer.cached_keys():
                    queue.add(key)

    async def _work(self, queue: WorkQueue) -> None:
        while (key := await queue.get()) is not None:
            try:
                await self._process(queue, key)
            finally:
                queue.done(key)

    async def _process(self, queue: WorkQueue, key: str) -> None:
        name = self.options.name
        started = time.perf_counter()
        try:
            again = await self._reconcile(key)
        except Exception as exc:  # a reconciler's failure is retried, never fatal
            delay = queue.add_rate_limited(key)
            self._metrics.reconcile_errors_total.labels(name).inc()
            self._metrics.reconcile_total.labels(name, "error").inc()
            _log.warning(
                "%s: reconcile of %s failed (%s: %s); retry %d in %.2fs",
                name,
                key,
                type(exc).__name__,
                exc,
                queue.failures(key),
                delay,
            )
            return
        finally:
            self._metrics.reconcile_duration_seconds.labels(name).observe(
                time.perf_counter() - started
            )
        queue.forget(key)
        if again is not None:
            queue.add_after(key, again)
        self._metrics.reconcile_total.labels(name, "success" if again is None else "requeue").inc()


def _mapped(watch: Watch, queue: WorkQueue) -> Callable[[str], None]:
    def handler(key: str) -> None:
        for primary in watch.to_keys(key):
            queue.add(primary)

    return handler
